import {
  type Agent,
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { type Clock, type Digest, systemClock } from '../core/index.ts';
import { type ForwardedRequestHeaders, requestHeaders, responseHeaders } from './router-headers.ts';
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
import { createUpstreamPool, type UpstreamPool } from './router-pool.ts';

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

export type RouterErrorCode = 'NO_BACKEND' | 'PINNED_RELEASE_UNAVAILABLE' | 'BACKEND_UNREACHABLE';

/** Samples kept per release for `window`: minutes of traffic at a few hundred requests per second. */
const WINDOW_CAPACITY = 50_000;
/** Recorders of releases no longer routed are kept for late analysis, up to this many in all. */
const MAX_RECORDERS = 32;
/** A backend whose connection failed is skipped (while its release has another) for this long. */
const FAILURE_BACKOFF_MS = 1_000;
const PIN_HEADER = 'x-fixity-release';
const PIN_COOKIE = 'fixity-release=';

interface BackendState {
  readonly backend: Backend;
  readonly key: string;
  readonly agent: UpstreamPool;
  /** What Node would send as `Host` to this backend when the client sent none. */
  readonly hostHeader: string;
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
  readonly hasBody: boolean;
  readonly retryable: boolean;
  readonly pinned: boolean;
  backend: BackendState | undefined;
  upstream: ClientRequest | undefined;
  incoming: IncomingMessage | undefined;
  /** The release the request is counted against, once one was chosen. */
  release: ReleaseRoute | undefined;
  status: number;
  upstreamBroken: boolean;
  attempts: number;
  /** Built on the first attempt, reused by a retry. */
  requestHeaders: ForwardedRequestHeaders | undefined;
}

// Per-request state rides on Node's own objects so that no closure is allocated per request.
const EXCHANGE = Symbol('exchange');
const ROUTE = Symbol('route');
const BACKEND = Symbol('backend');
interface ExchangeCarrier extends ServerResponse {
  [EXCHANGE]?: Exchange;
}
interface UpstreamRequest extends ClientRequest {
  [EXCHANGE]: Exchange;
  [ROUTE]: ReleaseRoute;
  [BACKEND]: BackendState;
}
/** Node links a client response to its request (undocumented but stable since 0.x). */
interface UpstreamResponse extends IncomingMessage {
  req: UpstreamRequest;
}

const backendKey = (b: Backend): string => `${b.instance}\u0000${b.release}\u0000${b.host}\u0000${b.port}`;

/** Creates the HTTP front of one service in one environment: a weighted, pinnable, draining reverse proxy. */
export function createRouter(options: RouterOptions): Router {
  const { environment, service } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const metrics: RouterMetrics = routerMetrics(options.registry ?? new Registry());
  const recorders = new Map<string, ReleaseRecorder>();
  const backends = new Map<string, BackendState>();
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
          agent: createUpstreamPool(backend.host, backend.port, 1024, 256),
          hostHeader: hostHeader(backend),
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

  function pickRelease(s: Snapshot, exclude: ReleaseRoute | undefined): ReleaseRoute | undefined {
    const { choices, cumulative } = s;
    if (choices.length === 0) return undefined;
    if (exclude === undefined) {
      const draw = random() * (cumulative[cumulative.length - 1] ?? 0);
      for (let i = 0; i < choices.length; i++) if (draw < (cumulative[i] ?? 0)) return choices[i];
      return choices[choices.length - 1];
    }
    let total = 0;
    for (let i = 0; i < choices.length; i++) {
      if (choices[i] !== exclude) total += (cumulative[i] ?? 0) - (cumulative[i - 1] ?? 0);
    }
    let draw = random() * total;
    for (let i = 0; i < choices.length; i++) {
      if (choices[i] === exclude) continue;
      draw -= (cumulative[i] ?? 0) - (cumulative[i - 1] ?? 0);
      if (draw < 0) return choices[i];
    }
    // Only the excluded release carries weight: a retry may still go to one without (better than a 502).
    for (const route of s.releases.values()) if (route.digest !== exclude.digest) return route;
    return undefined;
  }

  /** Round-robin over the release's backends, passing over recently failed ones while another remains. */
  function pickBackend(route: ReleaseRoute, exclude: BackendState | undefined): BackendState | undefined {
    const list = route.backends;
    const n = list.length;
    let fallback: BackendState | undefined;
    for (let i = 0; i < n; i++) {
      const b = list[route.rr] as BackendState;
      route.rr = route.rr + 1 >= n ? 0 : route.rr + 1;
      if (b === exclude) continue;
      if (b.failedAt === 0) return b;
      if (clock.now().getTime() - b.failedAt >= FAILURE_BACKOFF_MS) {
        b.failedAt = 0;
        return b;
      }
      fallback ??= b;
    }
    return fallback;
  }

  function pinnedRelease(s: Snapshot, req: IncomingMessage): ReleaseRoute | 'none' | undefined {
    let pin = req.headers[PIN_HEADER];
    if (Array.isArray(pin)) pin = pin[0];
    if (pin === undefined) {
      const cookie = req.headers.cookie;
      if (cookie === undefined) return 'none';
      const at = cookie.indexOf(PIN_COOKIE);
      if (at === -1 || (at > 0 && cookie[at - 1] !== ' ' && cookie[at - 1] !== ';')) return 'none';
      const end = cookie.indexOf(';', at);
      pin = cookie.slice(at + PIN_COOKIE.length, end === -1 ? undefined : end);
    }
    pin = pin.trim().toLowerCase();
    const exact = s.releases.get(pin);
    if (exact !== undefined) return exact;
    const hex = pin.startsWith('sha256:') ? pin.slice(7) : pin;
    if (hex.length < 12) return undefined;
    for (const route of s.releases.values()) {
      if (route.digest.slice(route.digest.indexOf(':') + 1).startsWith(hex)) return route;
    }
    return undefined;
  }

  function sendError(ex: Exchange, status: number, code: RouterErrorCode, message: string): void {
    ex.status = status;
    const body = JSON.stringify({ error: { code, message } });
    ex.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    ex.res.end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const s = snapshot;
    const method = req.method ?? 'GET';
    const headers = req.headers;
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
    const pinned = pinnedRelease(s, req);
    const ex: Exchange = {
      req,
      res,
      start: performance.now(),
      hasBody,
      retryable: !hasBody && (method === 'GET' || method === 'HEAD' || method === 'OPTIONS'),
      pinned: pinned !== 'none',
      backend: undefined,
      upstream: undefined,
      incoming: undefined,
      release: undefined,
      status: 0,
      upstreamBroken: false,
      attempts: 0,
      requestHeaders: undefined,
    };
    (res as ExchangeCarrier)[EXCHANGE] = ex;
    res.once('close', onClientClose);
    if (pinned === undefined) {
      const pin = headers[PIN_HEADER] ?? 'the fixity-release cookie';
      sendError(ex, 503, 'PINNED_RELEASE_UNAVAILABLE', `Cannot route to pinned release ${pin}: it has no backend`);
      return;
    }
    const route = pinned === 'none' ? pickRelease(s, undefined) : pinned;
    const backend = route && pickBackend(route, undefined);
    if (route === undefined || backend === undefined) {
      sendError(ex, 503, 'NO_BACKEND', `Cannot route request: service ${service} in ${environment} has no backend`);
      return;
    }
    forward(ex, route, backend);
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
    // Built once per request; a retry only swaps the Host fallback, which depends on the backend.
    ex.requestHeaders ??= requestHeaders(req.rawHeaders, req.socket.remoteAddress ?? '');
    const { headers, host } = ex.requestHeaders;
    const upstream = httpRequest({
      agent: backend.agent as unknown as Agent,
      host: backend.backend.host,
      port: backend.backend.port,
      method: req.method,
      path: req.url,
      headers: host ? headers : [...headers, 'host', backend.hostHeader],
    }) as UpstreamRequest;
    upstream[EXCHANGE] = ex;
    upstream[ROUTE] = route;
    upstream[BACKEND] = backend;
    ex.upstream = upstream;
    upstream.once('response', onUpstreamResponse);
    upstream.on('error', onUpstreamError);
    // Without body headers Node skips the request stream altogether (optimizeEmptyRequests): nothing to pipe.
    if (ex.hasBody) req.pipe(upstream);
    else upstream.end();
  }

  function onUpstreamResponse(this: UpstreamRequest, incoming: IncomingMessage): void {
    const ex = this[EXCHANGE];
    const res = ex.res;
    ex.incoming = incoming;
    ex.status = incoming.statusCode ?? 502;
    res.writeHead(ex.status, responseHeaders(incoming.rawHeaders, this[ROUTE].digest));
    incoming.on('error', onIncomingBroken);
    incoming.once('close', onIncomingBroken);
    // Not pipe(): its half a dozen listeners per response cost more than the bytes of a small body.
    incoming.on('data', onIncomingData);
    incoming.once('end', onIncomingEnd);
  }

  function onIncomingData(this: UpstreamResponse, chunk: Buffer): void {
    const ex = this.req[EXCHANGE];
    if (!ex.res.write(chunk)) {
      this.pause();
      ex.res.once('drain', onClientDrain);
    }
  }

  function onIncomingEnd(this: UpstreamResponse): void {
    this.req[EXCHANGE].res.end();
  }

  function onClientDrain(this: ServerResponse): void {
    (this as ExchangeCarrier)[EXCHANGE]?.incoming?.resume();
  }

  function onIncomingBroken(this: UpstreamResponse): void {
    const upstream = this.req;
    const ex = upstream[EXCHANGE];
    if (this.complete || ex.upstream !== upstream) return;
    ex.upstreamBroken = true;
    ex.res.destroy();
  }

  function onUpstreamError(this: UpstreamRequest): void {
    const ex = this[EXCHANGE];
    const route = this[ROUTE];
    const backend = this[BACKEND];
    const res = ex.res;
    if (ex.upstream !== this) return; // an attempt the client already abandoned
    if (ex.status !== 0) {
      ex.upstreamBroken = true;
      res.destroy();
      return;
    }
    // No response byte arrived: a connection failure, counted against the release that was tried.
    ex.upstream = undefined;
    ex.backend = undefined;
    release(backend);
    backend.failedAt = clock.now().getTime();
    route.recorder.record(++seq, 0, 0, SAMPLE_CONNECTION_FAILURE);
    if (res.destroyed) return;
    if (ex.retryable && ex.attempts < 2) {
      // The table may have changed since the first attempt: retry against the current one.
      const current = snapshot.releases.get(route.digest);
      const sameRelease = current && pickBackend(current, backend);
      const next = sameRelease ? current : ex.pinned ? undefined : pickRelease(snapshot, current);
      const nextBackend = sameRelease ?? (next && pickBackend(next, undefined));
      if (next !== undefined && nextBackend !== undefined) {
        forward(ex, next, nextBackend);
        return;
      }
    }
    sendError(ex, 502, 'BACKEND_UNREACHABLE', `Cannot reach a backend of release ${route.digest}`);
  }

  /** Accounts for a finished (or abandoned) request exactly once, when the client response closes. */
  function settle(ex: Exchange): void {
    const latencyMs = performance.now() - ex.start;
    const upstream = ex.upstream;
    ex.upstream = undefined;
    if (upstream !== undefined && !ex.res.writableFinished) upstream.destroy();
    if (ex.backend !== undefined) release(ex.backend);
    if (ex.release === undefined) return;
    // A client that went away before the answer is not the release's fault (nginx's 499).
    const status = ex.status === 0 ? 499 : ex.status;
    const failed = status >= 500 || ex.upstreamBroken;
    ex.release.recorder.record(++seq, status, latencyMs, SAMPLE_REQUEST | (failed ? SAMPLE_ERROR : 0));
  }

  function release(backend: BackendState): void {
    backend.inFlight--;
    if (backend.inFlight === 0 && backend.drained !== undefined) backend.drained();
  }

  const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000, optimizeEmptyRequests: true }, handle);

  function drain(state: BackendState): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        state.drained = undefined;
        state.agent.destroy();
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
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      for (const b of backends.values()) b.agent.destroy();
    },
  };
}

/** The `Host` value `http.request` derives from host and port (RFC 3986 brackets for IPv6). */
function hostHeader(b: Backend): string {
  const host = b.host.includes(':') && !b.host.startsWith('[') ? `[${b.host}]` : b.host;
  return b.port === 80 ? host : `${host}:${b.port}`;
}
