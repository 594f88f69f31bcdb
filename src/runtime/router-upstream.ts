import { connect, type Socket } from 'node:net';
import { ResponseError, ResponseParser } from './router-response.ts';

/**
 * The router's side towards one backend: a pool of keep-alive connections that send a request head the router
 * wrote itself and read the answer with a ResponseParser. Node's `http.request` would build a ClientRequest, an
 * IncomingMessage, a header object and a dozen listeners per request — more than half of the router's time when
 * bodies are small. Callbacks go to one `UpstreamSink` per router with the caller's per-request context, so no
 * closure is made per request.
 *
 * Kept from Node's Agent: LIFO reuse; at most `maxFree` idle connections; an idle connection is dropped a second
 * before the backend's announced `Keep-Alive: timeout=` runs out (so a request is not sent on a connection the
 * backend is closing), and at once when it announces a second or less; an idle connection that receives bytes or
 * fails is destroyed. There is no cap on connections in use: each carries one request of a client connection.
 *
 * `timeoutMs` bounds the backend's silence, like nginx's `proxy_read_timeout`: a connection with no byte in
 * either direction for that long fails its exchange (`timeout`, or `connect` while it is still connecting), and an
 * idle pooled one is closed. The clock does not run against the backend while the router waits on the client: while
 * the request body is still coming, or while the response is paused because the client reads slowly.
 */
export interface UpstreamSink<T> {
  /** The backend's final status and header fields as `[name, value, …]`. */
  head(ctx: T, status: number, rawHeaders: string[]): void;
  /** A piece of the body; `UpstreamConnection.pause()` stops more until `resume()`. */
  data(ctx: T, chunk: Buffer): void;
  /** The response is complete; the connection went back to the pool (or was closed). */
  end(ctx: T): void;
  /**
   * The exchange failed: `connect` when no byte of a response arrived (refused, reset, closed), `invalid` when the
   * backend's response could not be read, `broken` when the connection ended inside a response, `timeout` when the
   * backend was silent for the pool's `timeoutMs`.
   */
  fail(ctx: T, kind: UpstreamFailure, error: Error): void;
  /** A request body write that returned false may go on. */
  drain(ctx: T): void;
}

export type UpstreamFailure = 'connect' | 'invalid' | 'broken' | 'timeout';
export type RequestBody = 'none' | 'length' | 'chunked';

export interface UpstreamPool<T> {
  /** Sends `head` (a whole request head, CRLFCRLF included) on an idle or new connection. */
  request(ctx: T, head: string, headOnly: boolean, body: RequestBody): UpstreamConnection<T>;
  /** Destroys every connection, idle or in use (ending exchanges still in flight). */
  destroy(): void;
}

/** Node's Agent closes idle sockets this long before the server's announced keep-alive timeout. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
const CONNECTION = Symbol('upstream connection');
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

interface PoolState<T> {
  readonly host: string;
  readonly port: number;
  readonly sink: UpstreamSink<T>;
  readonly maxFree: number;
  readonly timeoutMs: number;
  readonly all: Set<UpstreamConnection<T>>;
  readonly free: UpstreamConnection<T>[];
}

interface CarrierSocket<T> extends Socket {
  [CONNECTION]: UpstreamConnection<T>;
}

/** One connection to a backend, carrying one exchange at a time. */
export class UpstreamConnection<T> {
  readonly socket: Socket;
  readonly #pool: PoolState<T>;
  readonly #parser: ResponseParser;
  #ctx: T | undefined;
  #body: RequestBody = 'none';
  #bodyDone = true;
  #bodyBlocked = false;
  #headSent = false;
  #paused = false;
  /** Reads from the backend so far: a timeout that fired before the pending ones were read is not silence. */
  #reads = 0;
  /** performance.now() after which this idle connection is not used again. */
  #idleUntil = Number.POSITIVE_INFINITY;

  constructor(pool: PoolState<T>) {
    this.#pool = pool;
    this.#parser = new ResponseParser({
      onHead: (status, raw) => {
        this.#headSent = true;
        if (this.#ctx !== undefined) pool.sink.head(this.#ctx, status, raw);
      },
      onBody: (chunk) => {
        if (this.#ctx !== undefined) pool.sink.data(this.#ctx, chunk);
      },
      onComplete: (reusable) => this.#complete(reusable),
    });
    const socket = connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 1_000,
    });
    (socket as CarrierSocket<T>)[CONNECTION] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    // Node re-arms this timer on every read and write, without an allocation.
    socket.setTimeout(pool.timeoutMs);
    socket.on('timeout', onSocketTimeout);
    // Every error ends in 'close', where an exchange in flight hears of it.
    socket.on('error', ignore);
    this.socket = socket;
    pool.all.add(this);
  }

  send(ctx: T, head: string, headOnly: boolean, body: RequestBody): void {
    this.#ctx = ctx;
    this.#body = body;
    this.#bodyDone = body === 'none';
    this.#bodyBlocked = false;
    this.#headSent = false;
    this.#paused = false;
    this.#parser.expect(headOnly);
    this.socket.write(head, 'latin1');
  }

  /** Writes a piece of the request body; false means wait for the sink's `drain`. */
  writeBody(chunk: Buffer): boolean {
    if (this.#ctx === undefined || chunk.length === 0) return true;
    let ok: boolean;
    if (this.#body === 'chunked') {
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}${CRLF}`, 'latin1');
      this.socket.write(chunk);
      ok = this.socket.write(CRLF, 'latin1');
      this.socket.uncork();
    } else {
      ok = this.socket.write(chunk);
    }
    if (!ok) this.#bodyBlocked = true;
    return ok;
  }

  endBody(): void {
    if (this.#ctx === undefined || this.#bodyDone) return;
    this.#bodyDone = true;
    if (this.#body === 'chunked') this.socket.write(LAST_CHUNK, 'latin1');
  }

  pause(): void {
    this.#paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.#paused = false;
    this.socket.resume();
  }

  /** Gives up on the exchange in flight (the client went away): the connection cannot be reused. */
  abort(): void {
    if (this.#ctx === undefined) return;
    this.#ctx = undefined;
    this.#parser.reset();
    this.socket.destroy();
  }

  /** Takes an idle connection out of use when it is gone or about to be closed by the backend. */
  usable(now: number): boolean {
    if (!this.socket.destroyed && now < this.#idleUntil) return true;
    this.socket.destroy();
    return false;
  }

  #complete(reusable: boolean): void {
    const ctx = this.#ctx;
    const pool = this.#pool;
    this.#ctx = undefined;
    const socket = this.socket;
    const hint = this.#parser.keepAliveMs;
    const keep =
      reusable &&
      this.#bodyDone &&
      socket.writable &&
      pool.free.length < pool.maxFree &&
      pool.all.has(this) &&
      (hint === undefined || hint > KEEP_ALIVE_MARGIN_MS);
    if (keep) {
      this.#idleUntil = hint === undefined ? Number.POSITIVE_INFINITY : performance.now() + hint - KEEP_ALIVE_MARGIN_MS;
      socket.resume();
      socket.unref();
      pool.free.push(this);
    } else {
      socket.destroy();
    }
    if (ctx !== undefined) pool.sink.end(ctx);
  }

  /** @internal socket event handlers, reached through the socket */
  onData(chunk: Buffer): void {
    this.#reads++;
    if (this.#ctx === undefined) {
      // Unsolicited bytes on an idle connection would be read as the next request's response.
      this.socket.destroy();
      return;
    }
    try {
      this.#parser.execute(chunk);
    } catch (err) {
      // A ResponseError, or a sink that could not pass the response on: either way this exchange is over.
      this.#fail('invalid', err instanceof Error ? err : new ResponseError('INVALID_RESPONSE', String(err)));
    }
  }

  onEnd(): void {
    if (this.#ctx !== undefined) this.#parser.finish();
  }

  onClose(): void {
    const pool = this.#pool;
    pool.all.delete(this);
    const at = pool.free.indexOf(this);
    if (at !== -1) pool.free.splice(at, 1);
    if (this.#ctx === undefined || this.#parser.finish()) return;
    const kind = this.#headSent ? 'broken' : this.#parser.received ? 'broken' : 'connect';
    this.#fail(kind, new Error(`Connection to ${pool.host}:${pool.port} closed before the response was complete`));
  }

  onDrain(): void {
    if (this.#ctx === undefined || !this.#bodyBlocked) return;
    this.#bodyBlocked = false;
    this.#pool.sink.drain(this.#ctx);
  }

  onTimeout(): void {
    if (this.#ctx === undefined) {
      this.socket.destroy();
      return;
    }
    // Waiting on the client (its body, or its reading of the response) is not the backend's silence.
    if (this.#paused || !this.#bodyDone) return;
    // After a stall of this process (a long GC, a busy machine) timers run before the bytes that arrived
    // meanwhile are read: the verdict waits until they are (setImmediate runs after the poll for I/O).
    const ctx = this.#ctx;
    const reads = this.#reads;
    setImmediate(() => {
      if (this.#ctx !== ctx || this.#reads !== reads || this.#paused) return;
      const pool = this.#pool;
      const kind = this.socket.connecting ? 'connect' : 'timeout';
      this.#fail(kind, new Error(`${pool.host}:${pool.port} sent nothing for ${pool.timeoutMs} ms`));
    });
  }

  #fail(kind: UpstreamFailure, error: Error): void {
    const ctx = this.#ctx;
    this.#ctx = undefined;
    this.#parser.reset();
    this.socket.destroy();
    if (ctx !== undefined) this.#pool.sink.fail(ctx, kind, error);
  }
}

function onSocketData(this: CarrierSocket<unknown>, chunk: Buffer): void {
  this[CONNECTION].onData(chunk);
}
function onSocketEnd(this: CarrierSocket<unknown>): void {
  this[CONNECTION].onEnd();
}
function onSocketClose(this: CarrierSocket<unknown>): void {
  this[CONNECTION].onClose();
}
function onSocketDrain(this: CarrierSocket<unknown>): void {
  this[CONNECTION].onDrain();
}
function onSocketTimeout(this: CarrierSocket<unknown>): void {
  this[CONNECTION].onTimeout();
}
function ignore(): void {}

export interface UpstreamPoolOptions {
  /** Idle connections kept. */
  maxFree: number;
  /** How long the backend may stay silent (see above). */
  timeoutMs: number;
}

/** Creates the pool of connections to `host:port`. */
export function createUpstreamPool<T>(
  host: string,
  port: number,
  sink: UpstreamSink<T>,
  options: UpstreamPoolOptions,
): UpstreamPool<T> {
  const pool: PoolState<T> = { host, port, sink, ...options, all: new Set(), free: [] };
  return {
    request(ctx, head, headOnly, body) {
      let connection = pool.free.pop();
      if (connection !== undefined) {
        const now = performance.now();
        while (connection !== undefined && !connection.usable(now)) connection = pool.free.pop();
      }
      if (connection === undefined) connection = new UpstreamConnection(pool);
      else connection.socket.ref();
      connection.send(ctx, head, headOnly, body);
      return connection;
    },
    destroy() {
      for (const connection of pool.all) connection.socket.destroy();
    },
  };
}
