import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, Digest } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { RuntimeDriver } from '../runtime/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { DeployError } from './deploy-error.ts';
import { deployRecords } from './deploy-records.ts';
import type { Reconciler } from './reconciler.ts';
import { RUNNING } from './service-routers.ts';

/** How long a deletion waits for the reconciler to remove what ran, unless a signal says otherwise. */
const WAIT_MS = 60_000;
const POLL_MS = 100;

/** One service of a deleted environment: what served it when the deletion began. */
export interface RemovedService {
  readonly service: string;
  readonly release: Digest | null;
  /** Its router's URL on this server, or null when none was open here. */
  readonly router: string | null;
  readonly instances: readonly string[];
}

/** What deleting an environment did; `remaining` names the services the reconciler has still to remove. */
export interface EnvironmentDeletion {
  readonly environment: string;
  readonly stage: string;
  readonly version: number;
  readonly digest: Digest;
  readonly deletedBy: string;
  readonly deletedAt: string;
  readonly force: boolean;
  /** Rollouts that were in progress (only with `force`): the removal aborts them. */
  readonly abortedRollouts: readonly string[];
  readonly services: readonly RemovedService[];
  readonly complete: boolean;
  readonly remaining: readonly string[];
}

export interface DeleteEnvironmentDeps {
  database: StoreDatabase;
  release: ReleaseService;
  driver: RuntimeDriver;
  clock: Clock;
  reconciler: Pick<Reconciler, 'reconcile' | 'leader' | 'router'>;
}

/**
 * Deletes an environment: records the deletion of its newest version (and its ledger leaf) in one
 * transaction, then lets the reconciler remove every service as it removes one dropped from a spec
 * (instances drained and stopped, routers closed, rollouts aborted, records deleted) and waits for that
 * until `signal` (default 60 s). Refused while a rollout is in progress unless `force`. The versions stay:
 * the ledger's leaves name them, and applying the name again goes on with the next version number.
 */
export async function deleteEnvironment(
  req: { environment: string; actor: string; force?: boolean; signal?: AbortSignal },
  deps: DeleteEnvironmentDeps,
): Promise<EnvironmentDeletion> {
  const { database, driver, reconciler } = deps;
  const { db } = database;
  const log = deps.release.log;
  const name = req.environment;
  const force = req.force ?? false;
  const signal = req.signal ?? AbortSignal.timeout(WAIT_MS);
  const running = () => driver.list().filter((i) => i.environment === name && RUNNING.has(i.state));
  // What runs is noted before the deletion commits (a reconcile pass started elsewhere may remove it before the
  // loop below looks), and before every pass, so an instance started by a pass under way is reported too.
  const instances = new Map<string, Set<string>>();
  const routers = new Map<string, string>();
  const note = (service: string) => {
    const url = reconciler.router(name, service)?.url;
    if (url !== undefined) routers.set(service, url);
    if (!instances.has(service)) instances.set(service, new Set());
  };
  const noteRunning = () => {
    for (const i of running()) {
      note(i.service);
      instances.get(i.service)?.add(i.id);
    }
  };
  noteRunning();
  const deleted = await db.transaction().execute(async (trx) => {
    await log.lock(trx, `deploy:env:${name}`);
    const env = await deployRecords.environment(trx, name);
    if (env === null)
      throw new DeployError('ENV_UNKNOWN', `Cannot delete ${name}: no environment "${name}" (fixity env apply FILE)`);
    const active = (await deployRecords.activeRollouts(trx)).filter((r) => r.environment === name);
    if (active.length > 0 && !force)
      throw new DeployError(
        'ROLLOUT_IN_PROGRESS',
        `Cannot delete ${name}: ${active.map((r) => `rollout ${r.id} of ${r.service}`).join(', ')} ${active.length === 1 ? 'is' : 'are'} in progress (fixity rollout abort ${name} ${active[0]?.service}, or delete with --force)`,
      );
    const records = await deployRecords.services(trx, name);
    const services = [...new Set([...env.spec.services.map((s) => s.name), ...records.map((r) => r.service)])].sort();
    const at = deps.clock.now().toISOString();
    const leaf = {
      event: 'environment.deleted',
      actor: req.actor,
      time: at,
      digests: [env.digest],
      environment: name,
      stage: env.spec.stage,
      version: env.version,
      force,
      services,
      rollouts: active.map((r) => r.id),
    };
    const logId = await log.enqueue(trx, leaf, [env.digest]);
    await trx
      .insertInto('deploy_environment_deletions')
      .values({ name, version: env.version, digest: env.digest, deleted_by: req.actor, deleted_at: at, log_id: logId })
      .execute();
    return { env, active, records, services, at };
  });
  await database.durable();
  await log.flush().catch(() => undefined);

  let remaining: string[] = [];
  for (;;) {
    for (const service of deleted.services) note(service);
    noteRunning();
    await reconciler.reconcile();
    const recorded = (await deployRecords.services(db, name)).map((r) => r.service);
    remaining = [...new Set([...recorded, ...running().map((i) => i.service)])].sort();
    // Another server holding the lease removes them there, and a version applied since keeps what it
    // declares; either way this one can only report.
    if (remaining.length === 0 || !reconciler.leader || signal.aborted) break;
    if ((await deployRecords.environment(db, name)) !== null) break;
    await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  const serving = new Map(deleted.records.map((r) => [r.service, r.currentRelease]));
  return {
    environment: name,
    stage: deleted.env.spec.stage,
    version: deleted.env.version,
    digest: deleted.env.digest,
    deletedBy: req.actor,
    deletedAt: deleted.at,
    force,
    abortedRollouts: deleted.active.map((r) => r.id),
    services: [...instances.keys()].sort().map((service) => ({
      service,
      release: serving.get(service) ?? null,
      router: routers.get(service) ?? null,
      instances: [...(instances.get(service) ?? [])].sort(),
    })),
    complete: remaining.length === 0,
    remaining,
  };
}
