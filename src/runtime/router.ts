import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { type Clock, type Digest, systemClock } from '../core/index.ts';
import { routerMetrics, type WindowCounts } from './router-metrics.ts';
import { createRouterProxy } from './router-proxy.ts';
import { emptySnapshot, type RouterState, updateTable } from './router-table.ts';
import { routeUpgrade } from './router-upgrade.ts';

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

/** How long `close` lets open client connections finish before it cuts them. */
const CLOSE_GRACE_MS = 5_000;

/** Creates the HTTP front of one service in one environment: a weighted, pinnable, draining reverse proxy. */
export function createRouter(options: RouterOptions): Router {
  const state: RouterState = {
    environment: options.environment,
    service: options.service,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 60_000,
    metrics: routerMetrics(options.registry ?? new Registry()),
    recorders: new Map(),
    backends: new Map(),
    tunnels: new Set(),
    seq: 0,
    snapshot: emptySnapshot(),
  };
  const { handle, sink } = createRouterProxy(state);
  let url = '';

  const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000, optimizeEmptyRequests: true }, handle);
  server.on('upgrade', (req, client, early) => routeUpgrade(state, req, client, early));

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
    update: (table) => updateTable(state, sink, table),
    table: () => state.snapshot.table,
    mark: () => state.seq,
    window(release, since) {
      const recorder = state.recorders.get(release);
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
        for (const t of state.tunnels) t.destroy();
      });
      for (const b of state.backends.values()) b.pool.destroy();
    },
  };
}
