import type { ClientRequest, IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * A keep-alive connection pool to one backend, in the role of an `http.Agent` (`http.request` takes any object
 * with `addRequest`). Node's Agent keys each request by host, port and a dozen options, copies its options and
 * builds the response's header object to read `Keep-Alive`; with one pool per backend none of that is needed.
 * Kept from Node's Agent (without a `timeout` option): LIFO reuse, at most `maxSockets` connections with requests
 * queued beyond, at most `maxFree` idle ones, no idle timeout, a connection is not kept when the backend announces
 * `Keep-Alive: timeout=1` or less, and an idle connection that receives bytes or fails is destroyed.
 */
export interface UpstreamPool {
  readonly keepAlive: true;
  readonly maxSockets: number;
  addRequest(req: ClientRequest): void;
  /** Destroys every connection, idle or in use (ending requests still in flight). */
  destroy(): void;
}

/** Node's Agent closes idle sockets this long before the server's announced keep-alive timeout. */
const KEEP_ALIVE_MARGIN_MS = 1_000;

interface PooledSocket extends Socket {
  _httpMessage: (ClientRequest & { shouldKeepAlive: boolean; res?: IncomingMessage }) | null;
}

/** Creates the pool of connections to `host:port`. */
export function createUpstreamPool(host: string, port: number, maxSockets: number, maxFree: number): UpstreamPool {
  const all = new Set<PooledSocket>();
  const free: PooledSocket[] = [];
  const waiting: ClientRequest[] = [];

  function open(req: ClientRequest): void {
    const socket = connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 1_000 });
    all.add(socket as PooledSocket);
    socket.on('free', onFree);
    socket.on('close', onClose);
    // An idle connection's error ends in 'close'; a request in flight hears of it through its own listener.
    socket.on('error', ignore);
    req.onSocket(socket);
  }

  function onFree(this: PooledSocket): void {
    if (!this.writable) {
      this.destroy();
      return;
    }
    const next = waiting.shift();
    if (next !== undefined) {
      next.onSocket(this);
      return;
    }
    const req = this._httpMessage;
    if (req === null || !req.shouldKeepAlive || free.length >= maxFree || !keepable(req.res?.rawHeaders)) {
      this.destroy();
      return;
    }
    if (this.readableLength > 0) {
      this.destroy();
      return;
    }
    this._httpMessage = null;
    this.unref();
    // Unsolicited bytes on an idle connection would be read as the next request's response.
    this.on('data', onIdleData);
    this.resume();
    free.push(this);
  }

  function onClose(this: PooledSocket): void {
    all.delete(this);
    const at = free.indexOf(this);
    if (at !== -1) free.splice(at, 1);
    const next = waiting.shift();
    if (next !== undefined) open(next);
  }

  return {
    keepAlive: true,
    maxSockets,
    addRequest(req) {
      let socket = free.pop();
      while (socket?.destroyed) socket = free.pop();
      if (socket !== undefined) {
        socket.off('data', onIdleData);
        socket.ref();
        (req as { reusedSocket: boolean }).reusedSocket = true;
        req.onSocket(socket);
      } else if (all.size < maxSockets) {
        open(req);
      } else {
        waiting.push(req);
      }
    },
    destroy() {
      for (const socket of all) socket.destroy();
    },
  };
}

function ignore(): void {}

function onIdleData(this: Socket): void {
  this.destroy();
}

/** False when the response's `Keep-Alive: timeout=` leaves no time to reuse the connection safely. */
function keepable(raw: readonly string[] | undefined): boolean {
  if (raw === undefined) return true;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
    const hint = /^timeout=(\d+)/.exec(raw[i + 1] as string)?.[1];
    return hint === undefined || Number.parseInt(hint, 10) * 1000 - KEEP_ALIVE_MARGIN_MS > 0;
  }
  return true;
}
