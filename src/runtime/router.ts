import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { type Clock, type Digest, systemClock } from '../core/index.ts';
import { PIN_HEADER, pickBackend, pickRelease, pinnedRelease } from './router-choice.ts';
import { requestHeaders, responseHeaders } from './router-headers.ts';
import {
  createReleaseRecorder,
  type ReleaseRecorder,
  type RouterMetrics,
  routerMetrics,
  SAMPLE_CONNECTION_FAILURE,
  SAMPLE_ERROR,
  SAMPLE_REQUEST,
  type WindowCounts,
} from './router-metrics.ts';
import { openTunnel, refuseUpgrade, type Tunnel } from './router-tunnel.ts';
import {
  createUpstreamPool,
  type RequestBody,
  type UpstreamConnection,
  type UpstreamFailure,
  type UpstreamPool,
  type UpstreamSink,
} from './router-upstream.ts';

/** One ready instance the router may send traffic to. */
export interface Backend {
  instance: string;
  release: Digest;
  host: string;
  port: number;
}

export interface RouteTable {
  backends: readonly Backend[];
  /** percent per release digest, summing to 100 (releases with no weight get 0) */
  weights: Readonly<Record<string, number>>;
}

export interface RouterOptions {
  environment: string;
  service: string;
  host?: string;
  /** 0 (the default) picks any free port. */
  port?: number;
  registry?: Registry;
  clock?: Clock;
  /** How long `update` waits for in-flight requests on removed backends; 30 s by default. */
  drainTimeoutMs?: number;
  /**
   * How long a backend may stay silent, in ms (no byte read or written on its connection while the router waits
   * for it): the request is answered 504, or cut if its response had begun. 60 s by default, as nginx's
   * `proxy_read_timeout`.
   */
  upstreamTimeoutMs?: number;
  random?: () => number;
}

export interface Router {
  /** `http://host:port`, after listen. */
  readonly url: string;
  listen(): Promise<void>;
  /** Replaces the table; resolves when every request in flight on a removed backend finished (or drainTimeoutMs passed). */
  update(table: RouteTable): Promise<void>;
  table(): RouteTable;
  /** Counters and latency samples per release since `mark` (a value returned by an earlier `mark()`), for analysis. */
  mark(): number;
  window(release: Digest, since: number): WindowCounts;
  close(): Promise<void>;
}

export type RouterErrorCode =
  | 'NO_BACKEND'
  | 'PINNED_RELEASE_UNAVAILABLE'
  | 'BACKEND_UNREACHABLE'
  | 'BAD_BACKEND_RESPONSE'
  | 'BACKEND_TIMEOUT';

/** Samples kept per release for `window`: minutes of traffic at a few hundred requests per second. */
const WINDOW_CAPACITY = 50_000;
/** Recorders of releases no longer routed are kept for late analysis, up to this many in all. */
const MAX_RECORDERS = 32;
/** How long `close` lets open client connections finish before it cuts them. */
const CLOSE_GRACE_MS = 5_000;
/** Idle connections kept per backend. */
const MAX_FREE_CONNECTIONS = 256;

interface BackendState {
  readonly backend: Backend;
  readonly key: string;
  readonly pool: UpstreamPool<Exchange>;
  /** The `Host` line sent to this backend when the client sent none. */
  readonly hostLine: string;
  inFlight: number;
  /** Clock time of the last connection failure, 0 when none. */
  failedAt: number;
  /** Resolvers waiting for inFlight to reach 0 after removal. */
  drained: (() => void) | undefined;
}

interface ReleaseRoute {
  readonly digest: Digest;
  readonly recorder: ReleaseRecorder;
  readonly backends: BackendState[];
  rr: number;
}

/** A release chosen for a request, and the backend of it. */
interface Target {
  readonly route: ReleaseRoute;
  readonly backend: BackendState;
}

interface Snapshot {
  readonly table: RouteTable;
  readonly releases: Map<string, ReleaseRoute>;
  /** Releases with traffic weight and at least one backend, with cumulative weights for the draw. */
  readonly choices: ReleaseRoute[];
  readonly cumulative: number[];
}

/** Per-request bookkeeping shared by the attempts of one request. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly start: number;
  readonly body: RequestBody;
  readonly retryable: boolean;
  readonly pinned: boolean;
  backend: BackendState | undefined;
  upstream: UpstreamConnection<Exchange> | undefined;
  /** The release the request is counted against, once one was chosen. */
  release: ReleaseRoute | undefined;
  status: number;
  upstreamBroken: boolean;
  attempts: number;
  /** The request line and forwarded fields, built on the first attempt and reused by a retry. */
  head: string | undefined;
  /** Whether `head` has a `Host` field; without one each attempt adds its backend's. */
  hasHost: boolean;
}

// Per-request state rides on Node's own objects so that no closure is allocated per request.
const EXCHANGE = Symbol('exchange');
interface ExchangeCarrier extends ServerResponse {
  [EXCHANGE]?: Exchange;
}
interface BodyCarrier extends IncomingMessage {
  [EXCHANGE]?: Exchange;
}

const backendKey = (b: Backend): string => `${b.instance}\u0000${b.release}\u0000${b.host}\u0000${b.port}`;

/** Creates the HTTP front of one service in one environment: a weighted, pinnable, draining reverse proxy. */
export function createRouter(options: RouterOptions): Router {
  const { environment, service } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 60_000;
  const metrics: RouterMetrics = routerMetrics(options.registry ?? new Registry());
  const recorders = new Map<string, ReleaseRecorder>();
  const backends = new Map<string, BackendState>();
  /**
   * Open upgraded connections. They do not hold up a drain: like a pod's WebSockets behind a Kubernetes
   * Service, they stay until their instance stops (its SIGTERM lets the service close them its own way).
   */
  const tunnels = new Set<Tunnel>();
  let seq = 0;
  let url = '';
  let snapshot = buildSnapshot({ backends: [], weights: {} });

  function recorderFor(release: Digest): ReleaseRecorder {
    let recorder = recorders.get(release);
    if (recorder === undefined) {
      recorder = createReleaseRecorder(metrics, { environment, service, release }, WINDOW_CAPACITY);
      recorders.set(release, recorder);
    }
    return recorder;
  }

  function buildSnapshot(table: RouteTable): Snapshot {
    const releases = new Map<string, ReleaseRoute>();
    for (const backend of table.backends) {
      const key = backendKey(backend);
      let state = backends.get(key);
      if (state === undefined) {
        state = {
          backend,
          key,
          pool: createUpstreamPool(backend.host, backend.port, sink, {
            maxFree: MAX_FREE_CONNECTIONS,
            timeoutMs: upstreamTimeoutMs,
          }),
          hostLine: `host: ${hostHeader(backend)}\r\n`,
          inFlight: 0,
          failedAt: 0,
          drained: undefined,
        };
        backends.set(key, state);
      }
      let route = releases.get(backend.release);
      if (route === undefined) {
        route = { digest: backend.release, recorder: recorderFor(backend.release), backends: [], rr: 0 };
        releases.set(backend.release, route);
      }
      route.backends.push(state);
    }
    const choices: ReleaseRoute[] = [];
    const cumulative: number[] = [];
    let total = 0;
    for (const route of releases.values()) {
      const weight = table.weights[route.digest] ?? 0;
      if (weight > 0) {
        total += weight;
        choices.push(route);
        cumulative.push(total);
      }
    }
    // Weight on releases without backends must not drop traffic that a backend could serve.
    if (choices.length === 0) {
      for (const route of releases.values()) {
        choices.push(route);
        cumulative.push(++total);
      }
    }
    const frozen: RouteTable = Object.freeze({
      backends: Object.freeze(table.backends.map((b) => Object.freeze({ ...b }))),
      weights: Object.freeze({ ...table.weights }),
    });
    return { table: frozen, releases, choices, cumulative };
  }

  const errorBody = (code: RouterErrorCode, message: string): string => JSON.stringify({ error: { code, message } });

  function sendError(ex: Exchange, status: number, code: RouterErrorCode, message: string): void {
    ex.status = status;
    const body = errorBody(code, message);
    ex.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    ex.res.end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const s = snapshot;
    const method = req.method ?? 'GET';
    const headers = req.headers;
    // The client's framing is hop-by-hop: a chunked body goes on chunked, a sized one with its Content-Length.
    const body: RequestBody =
      headers['transfer-encoding'] !== undefined
        ? 'chunked'
        : (headers['content-length'] ?? '0') !== '0'
          ? 'length'
          : 'none';
    const pinned = pinnedRelease(s.releases, headers);
    const ex: Exchange = {
      req,
      res,
      start: performance.now(),
      body,
      retryable: body === 'none' && (method === 'GET' || method === 'HEAD' || method === 'OPTIONS'),
      pinned: pinned !== 'none',
      backend: undefined,
      upstream: undefined,
      release: undefined,
      status: 0,
      upstreamBroken: false,
      attempts: 0,
      head: undefined,
      hasHost: false,
    };
    (res as ExchangeCarrier)[EXCHANGE] = ex;
    res.once('close', onClientClose);
    const choice = choose(s, headers, pinned);
    if ('code' in choice) sendError(ex, 503, choice.code, choice.message);
    else forward(ex, choice.route, choice.backend);
  }

  /** Where a new request goes, by its pin or by weight; or why it cannot go anywhere (a 503). */
  function choose(
    s: Snapshot,
    headers: IncomingHttpHeaders,
    pinned: ReleaseRoute | 'none' | undefined,
  ): Target | { code: RouterErrorCode; message: string } {
    if (pinned === undefined) {
      const pin = headers[PIN_HEADER] ?? 'the fixity-release cookie';
      return {
        code: 'PINNED_RELEASE_UNAVAILABLE',
        message: `Cannot route to pinned release ${pin}: it has no backend`,
      };
    }
    const route = pinned === 'none' ? pickRelease(s, undefined, random) : pinned;
    const backend = route && pickBackend(route, undefined, clock);
    if (route === undefined || backend === undefined) {
      return {
        code: 'NO_BACKEND',
        message: `Cannot route request: service ${service} in ${environment} has no backend`,
      };
    }
    return { route, backend };
  }

  /**
   * Where to try again after a connection to `backend` failed, on the current table (it may have changed):
   * another backend of the same release, else (unless pinned) another release.
   */
  function retryTarget(route: ReleaseRoute, backend: BackendState, pinned: boolean): Target | undefined {
    const current = snapshot.releases.get(route.digest);
    const sameRelease = current && pickBackend(current, backend, clock);
    const next = sameRelease ? current : pinned ? undefined : pickRelease(snapshot, current, random);
    const nextBackend = sameRelease ?? (next && pickBackend(next, undefined, clock));
    return next === undefined || nextBackend === undefined ? undefined : { route: next, backend: nextBackend };
  }

  function onClientClose(this: ServerResponse): void {
    settle((this as ExchangeCarrier)[EXCHANGE] as Exchange);
  }

  function forward(ex: Exchange, route: ReleaseRoute, backend: BackendState): void {
    const { req } = ex;
    ex.attempts++;
    ex.release = route;
    ex.backend = backend;
    backend.inFlight++;
    if (ex.head === undefined) {
      const forwarded = requestHeaders(req.rawHeaders, req.socket.remoteAddress ?? '');
      const fields = forwarded.headers;
      let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
      if (ex.body === 'chunked') head += 'transfer-encoding: chunked\r\n';
      ex.head = head;
      ex.hasHost = forwarded.host;
    }
    const head = ex.hasHost ? `${ex.head}\r\n` : `${ex.head}${backend.hostLine}\r\n`;
    ex.upstream = backend.pool.request(ex, head, req.method === 'HEAD', ex.body);
    // Only requests without a body are retried, so a body is read once, by the first attempt.
    if (ex.body !== 'none') {
      (req as BodyCarrier)[EXCHANGE] = ex;
      req.on('data', onRequestData);
      req.once('end', onRequestEnd);
    }
  }

  function onRequestData(this: BodyCarrier, chunk: Buffer): void {
    const upstream = this[EXCHANGE]?.upstream;
    if (upstream !== undefined && !upstream.writeBody(chunk)) this.pause();
  }

  function onRequestEnd(this: BodyCarrier): void {
    this[EXCHANGE]?.upstream?.endBody();
  }

  function onClientDrain(this: ServerResponse): void {
    (this as ExchangeCarrier)[EXCHANGE]?.upstream?.resume();
  }

  function onUpstreamFailure(ex: Exchange, kind: UpstreamFailure, error: Error): void {
    const route = ex.release as ReleaseRoute;
    const backend = ex.backend as BackendState;
    const res = ex.res;
    ex.upstream = undefined;
    if (ex.status !== 0) {
      // The response had begun: the client sees it cut short.
      ex.upstreamBroken = true;
      res.destroy();
      return;
    }
    if (kind !== 'connect') {
      // The backend may have acted on the request: neither a silent nor a garbled answer is retried.
      const [status, code, what] =
        kind === 'timeout'
          ? ([504, 'BACKEND_TIMEOUT', 'get an answer from'] as const)
          : ([502, 'BAD_BACKEND_RESPONSE', 'read the response of'] as const);
      sendError(ex, status, code, `Cannot ${what} a backend of release ${route.digest}: ${error.message}`);
      return;
    }
    // No response byte arrived: a connection failure, counted against the release that was tried.
    ex.backend = undefined;
    release(backend);
    backend.failedAt = clock.now().getTime();
    route.recorder.record(++seq, 0, 0, SAMPLE_CONNECTION_FAILURE);
    if (res.destroyed) return;
    const retry = ex.retryable && ex.attempts < 2 ? retryTarget(route, backend, ex.pinned) : undefined;
    if (retry !== undefined) {
      forward(ex, retry.route, retry.backend);
      return;
    }
    sendError(ex, 502, 'BACKEND_UNREACHABLE', `Cannot reach a backend of release ${route.digest}`);
  }

  const sink: UpstreamSink<Exchange> = {
    head(ex, status, raw) {
      ex.status = status;
      ex.res.writeHead(status, responseHeaders(raw, (ex.release as ReleaseRoute).digest));
    },
    data(ex, chunk) {
      if (!ex.res.write(chunk)) {
        ex.upstream?.pause();
        ex.res.once('drain', onClientDrain);
      }
    },
    end(ex) {
      ex.upstream = undefined;
      ex.res.end();
    },
    fail: onUpstreamFailure,
    drain(ex) {
      ex.req.resume();
    },
  };

  /** Accounts for a finished (or abandoned) request exactly once, when the client response closes. */
  function settle(ex: Exchange): void {
    const latencyMs = performance.now() - ex.start;
    const upstream = ex.upstream;
    ex.upstream = undefined;
    // Still set only when the client went away before the response was complete.
    upstream?.abort();
    if (ex.backend !== undefined) release(ex.backend);
    if (ex.release === undefined) return;
    // A client that went away before the answer is not the release's fault (nginx's 499).
    const status = ex.status === 0 ? 499 : ex.status;
    const failed = status >= 500 || ex.upstreamBroken;
    ex.release.recorder.record(++seq, status, latencyMs, SAMPLE_REQUEST | (failed ? SAMPLE_ERROR : 0));
  }

  /** An upgrade request: routed like any request, then tunnelled (see router-tunnel.ts). */
  function upgrade(req: IncomingMessage, client: Duplex, early: Buffer): void {
    const s = snapshot;
    const pinned = pinnedRelease(s.releases, req.headers);
    const choice = choose(s, req.headers, pinned);
    if ('code' in choice) refuseUpgrade(client, 503, errorBody(choice.code, choice.message));
    else tunnel(req, client, early, choice.route, choice.backend, pinned !== 'none', performance.now(), 1);
  }

  function tunnel(
    req: IncomingMessage,
    client: Duplex,
    early: Buffer,
    route: ReleaseRoute,
    backend: BackendState,
    pinned: boolean,
    start: number,
    attempt: number,
  ): void {
    const forwarded = requestHeaders(req.rawHeaders, req.socket.remoteAddress ?? '');
    const fields = forwarded.headers;
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
    if (!forwarded.host) head += backend.hostLine;
    head += `connection: upgrade\r\nupgrade: ${req.headers.upgrade ?? ''}\r\n\r\n`;
    const t = openTunnel(client, backend.backend, head, early, upstreamTimeoutMs, {
      answered(status) {
        const failed = status >= 500 ? SAMPLE_ERROR : 0;
        route.recorder.record(++seq, status, performance.now() - start, SAMPLE_REQUEST | failed);
      },
      failed(kind, error) {
        tunnels.delete(t);
        if (kind === 'timeout') {
          route.recorder.record(++seq, 504, performance.now() - start, SAMPLE_REQUEST | SAMPLE_ERROR);
          const message = `Cannot get an answer from a backend of release ${route.digest}: ${error.message}`;
          return refuseUpgrade(client, 504, errorBody('BACKEND_TIMEOUT', message));
        }
        backend.failedAt = clock.now().getTime();
        route.recorder.record(++seq, 0, 0, SAMPLE_CONNECTION_FAILURE);
        if (client.destroyed) return;
        // As for a request without a body: one more attempt.
        const retry = attempt < 2 ? retryTarget(route, backend, pinned) : undefined;
        if (retry !== undefined)
          return tunnel(req, client, early, retry.route, retry.backend, pinned, start, attempt + 1);
        const message = `Cannot reach a backend of release ${route.digest}`;
        refuseUpgrade(client, 502, errorBody('BACKEND_UNREACHABLE', message));
      },
      closed() {
        tunnels.delete(t);
      },
    });
    tunnels.add(t);
  }

  function release(backend: BackendState): void {
    backend.inFlight--;
    if (backend.inFlight === 0 && backend.drained !== undefined) backend.drained();
  }

  const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000, optimizeEmptyRequests: true }, handle);
  server.on('upgrade', upgrade);

  function drain(state: BackendState): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        state.drained = undefined;
        state.pool.destroy();
        resolve();
      };
      const timer = setTimeout(done, drainTimeoutMs);
      state.drained = done;
      if (state.inFlight === 0) done();
    });
  }

  function forgetOldRecorders(s: Snapshot): void {
    if (recorders.size <= MAX_RECORDERS) return;
    const idle = [...recorders].filter(([release]) => !s.releases.has(release));
    idle.sort((a, b) => a[1].newest() - b[1].newest());
    for (const [release] of idle.slice(0, recorders.size - MAX_RECORDERS)) recorders.delete(release);
  }

  return {
    get url() {
      return url;
    },
    listen() {
      return new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          url = `http://${host}:${address.port}`;
          resolve();
        });
      });
    },
    async update(table) {
      const next = buildSnapshot(table);
      const kept = new Set(table.backends.map(backendKey));
      const removed = [...backends.values()].filter((b) => !kept.has(b.key));
      for (const b of removed) backends.delete(b.key);
      snapshot = next;
      forgetOldRecorders(next);
      await Promise.all(removed.map(drain));
    },
    table: () => snapshot.table,
    mark: () => seq,
    window(release, since) {
      const recorder = recorders.get(release);
      return recorder ? recorder.window(since) : { requests: 0, errors: 0, connectionFailures: 0, latenciesMs: [] };
    },
    async close() {
      await new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        // Requests in flight get a grace period; a connection that stays open past it (a client that sent half
        // a request, or keeps one streaming) is cut, so closing a router never waits on a client.
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
        // Upgraded connections never end on their own, and are no longer the HTTP server's to close.
        for (const t of tunnels) t.destroy();
      });
      for (const b of backends.values()) b.pool.destroy();
    },
  };
}

/** The `Host` value `http.request` derives from host and port (RFC 3986 brackets for IPv6). */
function hostHeader(b: Backend): string {
  const host = b.host.includes(':') && !b.host.startsWith('[') ? `[${b.host}]` : b.host;
  return b.port === 80 ? host : `${host}:${b.port}`;
}
