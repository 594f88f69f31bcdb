import { type Clock, canonicalJSON } from '../core/index.ts';
import type { InstanceStatus, Router, RuntimeDriver } from '../runtime/index.ts';
import type { Executor } from '../store/index.ts';
import { deployRecords } from './deploy-records.ts';

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
    if (known?.routerPort !== port) {
      await deployRecords.upsertService(
        db,
        {
          environment: env,
          service: svc,
          currentRelease: known?.currentRelease ?? null,
          previousRelease: known?.previousRelease ?? null,
          rolloutId: known?.rolloutId ?? null,
          routerPort: port,
        },
        deps.clock.now().toISOString(),
      );
    }
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

  return {
    routerFor,
    sync,
    retire,
    instancesOf,
    isLeaving: (id: string) => leaving.has(id),
    get: (env: string, svc: string) => routers.get(key(env, svc)),
    async closeAll(): Promise<void> {
      for (const r of routers.values()) await r.close();
      routers.clear();
    },
  };
}

export type ServiceRouters = ReturnType<typeof createServiceRouters>;
