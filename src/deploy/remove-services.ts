import type { Clock } from '../core/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { deployRecords, type EnvironmentVersion } from './deploy-records.ts';
import type { ServiceRouters } from './service-routers.ts';
import type { StepRecorder } from './step-recorder.ts';

const WHY = 'service removed from the environment';
const DELETED = 'environment deleted';

/** An environment as a reconcile pass sees it; `deleted` marks the last version of a deleted one. */
export type ReconciledEnvironment = EnvironmentVersion & { readonly deleted?: boolean };

/** How removing one service went; `waiting` means it is retried on the next pass. */
export type ServiceRemoval =
  | { kind: 'removed'; service: string; router: string | null; stopped: number; abortedRollouts: string[] }
  | { kind: 'waiting'; service: string; reason: string }
  | { kind: 'failed'; service: string; error: Error };

export interface RemoveServicesDeps {
  database: StoreDatabase;
  routers: ServiceRouters;
  steps: StepRecorder;
  clock: Clock;
  /** Whether an instance of the service is being created right now (it is removed once it exists). */
  creating(environment: string, service: string): boolean;
}

/**
 * The environments a reconcile pass works on: the newest version of each, and of each deleted one that still
 * has a service recorded, a router open here or an instance running, its last version declaring no
 * services, so that the pass removes them all.
 */
export async function environmentsToReconcile(
  deps: Pick<RemoveServicesDeps, 'database' | 'routers'>,
): Promise<ReconciledEnvironment[]> {
  const { db } = deps.database;
  const live = await deployRecords.environments(db);
  const names = new Set([...deps.routers.environments(), ...(await deployRecords.serviceEnvironments(db))]);
  for (const env of live) names.delete(env.name);
  const deleted: ReconciledEnvironment[] = [];
  for (const name of [...names].sort()) {
    const deletion = await deployRecords.deletion(db, name);
    const last = deletion === null ? null : await deployRecords.environment(db, name, deletion.version);
    if (last !== null) deleted.push({ ...last, spec: { ...last.spec, services: [] }, deleted: true });
  }
  return [...live, ...deleted];
}

/**
 * Removes what the newest version of an environment no longer declares: a service with a stored record, a
 * router open here or an instance still running (adopted after a restart too) but no entry in the spec.
 * Its instances drain out of the router and stop, the router closes, an active rollout of it is aborted
 * and its record deleted, so status shows no dead router and adding it back later starts clean.
 */
export async function removeServices(env: ReconciledEnvironment, deps: RemoveServicesDeps): Promise<ServiceRemoval[]> {
  const declared = new Set(env.spec.services.map((s) => s.name));
  const present = deps.routers.servicesIn(env.name);
  for (const r of await deployRecords.services(deps.database.db, env.name)) present.add(r.service);
  const results: ServiceRemoval[] = [];
  for (const service of [...present].filter((s) => !declared.has(s)).sort()) {
    if (deps.creating(env.name, service)) {
      results.push({ kind: 'waiting', service, reason: 'an instance is still being created' });
      continue;
    }
    results.push(
      await removeService(env, service, deps).catch(
        (error: Error): ServiceRemoval => ({ kind: 'failed', service, error }),
      ),
    );
  }
  return results;
}

/** Drains, stops and closes one service, then records it and forgets it in one transaction. */
async function removeService(
  env: ReconciledEnvironment,
  service: string,
  deps: RemoveServicesDeps,
): Promise<ServiceRemoval> {
  const { db } = deps.database;
  const why = env.deleted === true ? DELETED : WHY;
  const { record, recordInstance } = deps.steps;
  const removal = await deps.routers.remove(env.name, service);
  const active = (await deployRecords.activeRollouts(db)).filter(
    (r) => r.environment === env.name && r.service === service,
  );
  for (const { instance, error } of removal.instances) {
    const detail = `${instance.id}: ${error === null ? why : error.message}`;
    await recordInstance(
      active[0] ?? null,
      'instance.stopped',
      error === null ? 'applied' : 'failed',
      detail,
      instance,
    );
  }
  const failed = removal.instances.filter((i) => i.error !== null).length;
  if (!removal.closed) return { kind: 'waiting', service, reason: `${failed} instance(s) did not stop` };
  const now = deps.clock.now().toISOString();
  await db.transaction().execute(async (trx) => {
    const stored = await deployRecords.service(trx, env.name, service);
    for (const rollout of active) {
      await trx
        .updateTable('deploy_rollouts')
        .set({ status: 'aborted', updated_at: now })
        .where('id', '=', rollout.id)
        .where('status', '=', 'active')
        .execute();
      await record(trx, rollout, 'rollout.aborted', 'applied', why, [rollout.target], {
        environment: env.name,
        service,
        rollout: rollout.id,
      });
    }
    await deployRecords.deleteService(trx, env.name, service);
    const serving = stored?.currentRelease ?? null;
    const router = removal.url === null ? 'no router open here' : `router ${removal.url} closed`;
    await record(
      trx,
      null,
      'service.removed',
      'applied',
      `${router}, ${removal.instances.length} instance(s) stopped`,
      serving === null ? [env.digest] : [env.digest, serving],
      { environment: env.name, service, envVersion: env.version, router: removal.url, release: serving },
    );
  });
  return {
    kind: 'removed',
    service,
    router: removal.url,
    stopped: removal.instances.length,
    abortedRollouts: active.map((r) => r.id),
  };
}
