import { type Clock, canonicalJSON } from '../core/index.ts';
import type { InstanceStatus, Router, RuntimeDriver } from '../runtime/index.ts';
import type { Executor } from '../store/index.ts';
import { deployRecords } from './deploy-records.ts';

/** States in which an instance's process may still run, and so must be stopped when its service goes. */
export const RUNNING: ReadonlySet<string> = new Set(['starting', 'ready', 'unhealthy']);

/** What removing a service did: the router it closed (if open here) and each instance it stopped. */
export interface Removal {
  readonly url: string | null;
  /** False while an instance failed to stop: the router then stays open, with no backends. */
  readonly closed: boolean;
  readonly instances: ReadonlyArray<{ instance: InstanceStatus; error: Error | null }>;
}

export interface ServiceRoutersDeps {
  db: Executor;
  driver: RuntimeDriver;
  clock: Clock;
  /** Creates (and starts listening) the router of one service; `port` is the one it had before, if any. */
  openRouter(environment: string, service: string, port: number | null): Promise<Router>;
}

/**
 * One router per service, pointed at that service's ready instances with the rollout's weights. An
 * instance leaves the router before it stops, so its requests drain and none is lost.
 */
export function createServiceRouters(deps: ServiceRoutersDeps) {
  const { db, driver } = deps;
  const routers = new Map<string, Router>();
  const lastWeights = new Map<string, Record<string, number>>();
  /** Instances being stopped: out of the router, never counted as live again. */
  const leaving = new Set<string>();
  const key = (env: string, svc: string) => `${env}/${svc}`;
  const instancesOf = (env: string, svc: string) =>
    driver.list().filter((i) => i.environment === env && i.service === svc);

  /** The service's router, opened on first use on the port it had before (or the spec's, or any). */
  async function routerFor(env: string, svc: string, preferredPort = 0): Promise<Router> {
    const k = key(env, svc);
    let router = routers.get(k);
    if (router !== undefined) return router;
    const known = await deployRecords.service(db, env, svc);
    router = await deps.openRouter(env, svc, known?.routerPort ?? (preferredPort === 0 ? null : preferredPort));
    routers.set(k, router);
    const port = Number(new URL(router.url).port);
    // Only the port: a deploy may be writing the release and rollout of this service at the same moment.
    if (known?.routerPort !== port)
      await deployRecords.setRouterPort(db, env, svc, port, deps.clock.now().toISOString());
    return router;
  }

  /** Points the router at the ready instances with the given (or last) weights. */
  async function sync(env: string, svc: string, weights: Record<string, number> | null): Promise<void> {
    const k = key(env, svc);
    if (weights !== null) lastWeights.set(k, weights);
    const w = lastWeights.get(k) ?? {};
    const router = await routerFor(env, svc);
    const backends = instancesOf(env, svc)
      .filter((i) => i.state === 'ready' && !leaving.has(i.id))
      .map((i) => ({ instance: i.id, release: i.release, host: i.address.host, port: i.address.port }));
    const current = router.table();
    const same =
      canonicalJSON(current.weights) === canonicalJSON(w) &&
      current.backends.map((b) => b.instance).join() === backends.map((b) => b.instance).join();
    if (!same) await router.update({ backends, weights: w });
  }

  /** Takes an instance out of the router, then stops it (or quarantines it, keeping it for forensics). */
  async function retire(env: string, svc: string, inst: InstanceStatus, why: string, quarantine = false) {
    leaving.add(inst.id);
    await sync(env, svc, null);
    try {
      if (quarantine) await driver.quarantine(inst.id, why);
      else await driver.stop(inst.id, { graceMs: 10_000 });
    } finally {
      leaving.delete(inst.id);
    }
  }

  /**
   * Takes a service that left its environment out of service: every running instance leaves the router
   * (its requests drain) and stops; then the router closes, releasing its port, and is forgotten. When a
   * stop fails the router stays open, with no backends, so the next pass can finish the job.
   */
  async function remove(env: string, svc: string): Promise<Removal> {
    const k = key(env, svc);
    const router = routers.get(k);
    const running = instancesOf(env, svc).filter((i) => RUNNING.has(i.state) && !leaving.has(i.id));
    for (const i of running) leaving.add(i.id);
    let stops: PromiseSettledResult<void>[];
    try {
      await router?.update({ backends: [], weights: {} });
      stops = await Promise.allSettled(running.map((i) => driver.stop(i.id, { graceMs: 10_000 })));
    } finally {
      for (const i of running) leaving.delete(i.id);
    }
    const instances = running.map((instance, n) => {
      const stop = stops[n] as PromiseSettledResult<void>;
      return stop.status === 'fulfilled' ? { instance, error: null } : { instance, error: stop.reason as Error };
    });
    const url = router?.url ?? null;
    if (instances.some((i) => i.error !== null)) return { url, closed: false, instances };
    await router?.close();
    routers.delete(k);
    lastWeights.delete(k);
    return { url, closed: true, instances };
  }

  return {
    routerFor,
    sync,
    retire,
    remove,
    instancesOf,
    isLeaving: (id: string) => leaving.has(id),
    get: (env: string, svc: string) => routers.get(key(env, svc)),
    /** The services of an environment with a router open here or an instance that may still run. */
    servicesIn(env: string): Set<string> {
      const names = new Set<string>();
      for (const k of routers.keys()) if (k.startsWith(`${env}/`)) names.add(k.slice(env.length + 1));
      for (const i of driver.list()) if (i.environment === env && RUNNING.has(i.state)) names.add(i.service);
      return names;
    },
    /** The environments with a router open here or an instance that may still run. */
    environments(): Set<string> {
      const names = new Set<string>();
      for (const k of routers.keys()) names.add(k.slice(0, k.indexOf('/')));
      for (const i of driver.list()) if (RUNNING.has(i.state)) names.add(i.environment);
      return names;
    },
    async closeAll(): Promise<void> {
      for (const r of routers.values()) await r.close();
      routers.clear();
    },
  };
}

export type ServiceRouters = ReturnType<typeof createServiceRouters>;
