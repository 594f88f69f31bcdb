import { request } from 'node:http';
import { connect } from 'node:net';
import type { Clock } from '../core/index.ts';
import type { HealthCheck, HealthSpec } from './types.ts';

/** One HTTP GET; success is a 2xx or 3xx answer within `timeoutMs`. */
export function probeHttp(host: string, port: number, check: HealthCheck): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: check.path, method: 'GET', timeout: check.timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 400, detail: `GET ${check.path} answered ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${check.timeoutMs}ms`)));
    req.on('error', (err) => resolve({ ok: false, detail: `GET ${check.path} failed: ${err.message}` }));
    req.end();
  });
}

/** Without a readiness check, an instance is ready once its port accepts connections. */
function probeTcp(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.on('connect', () => {
      socket.destroy();
      resolve({ ok: true, detail: 'port open' });
    });
    socket.on('timeout', () => socket.destroy(new Error('timeout')));
    socket.on('error', (err) => resolve({ ok: false, detail: `port closed: ${err.message}` }));
  });
}

export interface HealthWatch {
  stop(): void;
}

export interface HealthWatchOptions {
  readonly host: string;
  readonly port: number;
  readonly spec: HealthSpec;
  readonly clock: Clock;
  /** When the process started (startup timeout counts from here). */
  readonly startedAt: Date;
  /** Skip the startup phase (an adopted instance that was already ready). */
  readonly alreadyReady: boolean;
  onReady(): void;
  onUnhealthy(reason: string): void;
}

const STARTUP_INTERVAL_MS = 100;

/** Probes readiness until the first success, then liveness and readiness; reports a change once. */
export function watchHealth(options: HealthWatchOptions): HealthWatch {
  const { host, port, spec } = options;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let failures = { readiness: 0, liveness: 0 };
  const schedule = (ms: number, step: () => Promise<void>) => {
    if (!stopped) timer = setTimeout(() => void step(), ms);
  };
  const readiness = () =>
    spec.readiness === undefined ? probeTcp(host, port, 1000) : probeHttp(host, port, spec.readiness);
  const starting = async (): Promise<void> => {
    const result = await readiness();
    if (stopped) return;
    if (result.ok) {
      options.onReady();
      schedule(interval(), running);
      return;
    }
    if (options.clock.now().getTime() - options.startedAt.getTime() >= spec.startupTimeoutMs) {
      stopped = true;
      options.onUnhealthy(`not ready within ${spec.startupTimeoutMs}ms: ${result.detail}`);
      return;
    }
    schedule(Math.min(spec.readiness?.intervalMs ?? STARTUP_INTERVAL_MS, STARTUP_INTERVAL_MS * 5), starting);
  };
  const interval = () =>
    Math.min(spec.liveness?.intervalMs ?? Infinity, spec.readiness?.intervalMs ?? Infinity, 10_000);
  const running = async (): Promise<void> => {
    const checks: Array<['readiness' | 'liveness', HealthCheck]> = [];
    if (spec.readiness !== undefined) checks.push(['readiness', spec.readiness]);
    if (spec.liveness !== undefined) checks.push(['liveness', spec.liveness]);
    for (const [kind, check] of checks) {
      const result = await probeHttp(host, port, check);
      if (stopped) return;
      failures = { ...failures, [kind]: result.ok ? 0 : failures[kind] + 1 };
      if (failures[kind] >= check.failureThreshold) {
        stopped = true;
        options.onUnhealthy(`${kind} probe failed ${failures[kind]} times: ${result.detail}`);
        return;
      }
    }
    if (checks.length > 0) schedule(interval(), running);
  };
  if (options.alreadyReady) schedule(interval(), running);
  else void starting();
  return {
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
