import type { Clock, Digest } from '../core/index.ts';
import type { Backend, RouteTable } from './router.ts';
import { createReleaseRecorder, type ReleaseRecorder, type RouterMetrics } from './router-metrics.ts';
import type { Exchange } from './router-proxy.ts';
import type { Tunnel } from './router-tunnel.ts';
import { createUpstreamPool, type UpstreamPool, type UpstreamSink } from './router-upstream.ts';

/**
 * The router's state and its route table: the backends and releases of the current table as an immutable snapshot
 * the request path reads, how a new table replaces it (backends kept keep their connections, removed ones drain),
 * and the per-release recorders behind `Router.window`.
 */

/** Samples kept per release for `window`: minutes of traffic at a few hundred requests per second. */
const WINDOW_CAPACITY = 50_000;
/** Recorders of releases no longer routed are kept for late analysis, up to this many in all. */
const MAX_RECORDERS = 32;
/** Idle connections kept per backend. */
const MAX_FREE_CONNECTIONS = 256;

/** Everything one router shares between its request path, its upgrades and its table updates. */
export interface RouterState {
  readonly environment: string;
  readonly service: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly drainTimeoutMs: number;
  readonly upstreamTimeoutMs: number;
  readonly metrics: RouterMetrics;
  readonly recorders: Map<string, ReleaseRecorder>;
  readonly backends: Map<string, BackendState>;
  /**
   * Open upgraded connections. They do not hold up a drain: like a pod's WebSockets behind a Kubernetes
   * Service, they stay until their instance stops (its SIGTERM lets the service close them its own way).
   */
  readonly tunnels: Set<Tunnel>;
  /** Sequence number of the last recorded sample; `Router.mark` returns it. */
  seq: number;
  snapshot: Snapshot;
}

export interface BackendState {
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

export interface ReleaseRoute {
  readonly digest: Digest;
  readonly recorder: ReleaseRecorder;
  readonly backends: BackendState[];
  rr: number;
}

export interface Snapshot {
  readonly table: RouteTable;
  readonly releases: ReadonlyMap<string, ReleaseRoute>;
  /** Releases with traffic weight and at least one backend, with cumulative weights for the draw. */
  readonly choices: readonly ReleaseRoute[];
  readonly cumulative: readonly number[];
}

/** The snapshot of a router before its first update: no backend, no release. */
export function emptySnapshot(): Snapshot {
  return { table: freezeTable({ backends: [], weights: {} }), releases: new Map(), choices: [], cumulative: [] };
}

/**
 * Makes `table` the one requests are routed by; resolves when every request in flight on a removed backend
 * finished (or drainTimeoutMs passed). New backends get a connection pool that answers to `sink`.
 */
export async function updateTable(state: RouterState, sink: UpstreamSink<Exchange>, table: RouteTable): Promise<void> {
  const next = buildSnapshot(state, sink, table);
  const kept = new Set(table.backends.map(backendKey));
  const removed = [...state.backends.values()].filter((b) => !kept.has(b.key));
  for (const b of removed) state.backends.delete(b.key);
  state.snapshot = next;
  forgetOldRecorders(state.recorders, next);
  await Promise.all(removed.map((b) => drain(b, state.drainTimeoutMs)));
}

/** Ends one request's hold on `backend`, completing its drain when it was the last. */
export function releaseBackend(backend: BackendState): void {
  backend.inFlight--;
  if (backend.inFlight === 0 && backend.drained !== undefined) backend.drained();
}

function buildSnapshot(state: RouterState, sink: UpstreamSink<Exchange>, table: RouteTable): Snapshot {
  const releases = new Map<string, ReleaseRoute>();
  for (const backend of table.backends) {
    const key = backendKey(backend);
    let backendState = state.backends.get(key);
    if (backendState === undefined) {
      backendState = {
        backend,
        key,
        pool: createUpstreamPool(backend.host, backend.port, sink, {
          maxFree: MAX_FREE_CONNECTIONS,
          timeoutMs: state.upstreamTimeoutMs,
        }),
        hostLine: `host: ${hostHeader(backend)}\r\n`,
        inFlight: 0,
        failedAt: 0,
        drained: undefined,
      };
      state.backends.set(key, backendState);
    }
    let route = releases.get(backend.release);
    if (route === undefined) {
      route = { digest: backend.release, recorder: recorderFor(state, backend.release), backends: [], rr: 0 };
      releases.set(backend.release, route);
    }
    route.backends.push(backendState);
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
  return { table: freezeTable(table), releases, choices, cumulative };
}

function freezeTable(table: RouteTable): RouteTable {
  return Object.freeze({
    backends: Object.freeze(table.backends.map((b) => Object.freeze({ ...b }))),
    weights: Object.freeze({ ...table.weights }),
  });
}

function recorderFor(state: RouterState, release: Digest): ReleaseRecorder {
  let recorder = state.recorders.get(release);
  if (recorder === undefined) {
    const labels = { environment: state.environment, service: state.service, release };
    recorder = createReleaseRecorder(state.metrics, labels, WINDOW_CAPACITY);
    state.recorders.set(release, recorder);
  }
  return recorder;
}

function forgetOldRecorders(recorders: Map<string, ReleaseRecorder>, s: Snapshot): void {
  if (recorders.size <= MAX_RECORDERS) return;
  const idle = [...recorders].filter(([release]) => !s.releases.has(release));
  idle.sort((a, b) => a[1].newest() - b[1].newest());
  for (const [release] of idle.slice(0, recorders.size - MAX_RECORDERS)) recorders.delete(release);
}

function drain(state: BackendState, drainTimeoutMs: number): Promise<void> {
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

const backendKey = (b: Backend): string => `${b.instance}\u0000${b.release}\u0000${b.host}\u0000${b.port}`;

/** The `Host` value `http.request` derives from host and port (RFC 3986 brackets for IPv6). */
function hostHeader(b: Backend): string {
  const host = b.host.includes(':') && !b.host.startsWith('[') ? `[${b.host}]` : b.host;
  return b.port === 80 ? host : `${host}:${b.port}`;
}
