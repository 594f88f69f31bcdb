import type { Clock } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { RuntimeDriver } from '../runtime/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import type { EnvironmentVersion } from './deploy-records.ts';
import type { ServiceRouters } from './service-routers.ts';
import { RECONCILER_ACTOR } from './step-recorder.ts';

const QUARANTINED = 'quarantined and replaced';

/**
 * Verifies every ready instance against what it was created from (root files, process, config digest).
 * A drifted one leaves the router and is quarantined; the reconciler's next pass starts a replacement from
 * the same release. A process in the runtime that no instance accounts for is killed. Each finding goes
 * into `deploy_drift` and the ledger.
 */
export async function checkDrift(
  envs: readonly EnvironmentVersion[],
  deps: {
    database: StoreDatabase;
    release: ReleaseService;
    driver: RuntimeDriver;
    routers: ServiceRouters;
    clock: Clock;
    logger?: { warn(o: object, m?: string): void } | undefined;
  },
): Promise<void> {
  const { driver, routers, logger } = deps;
  const { db } = deps.database;
  const log = deps.release.log;
  const nowIso = () => deps.clock.now().toISOString();
  // Instances of a service no longer declared are the removal's to stop; quarantining one would reopen its router.
  const declared = new Set(envs.flatMap((e) => e.spec.services.map((s) => `${e.name}/${s.name}`)));
  for (const inst of driver.list()) {
    const known = declared.has(`${inst.environment}/${inst.service}`);
    if (!known || inst.state !== 'ready' || routers.isLeaving(inst.id)) continue;
    const report = await driver.verify(inst.id).catch(() => null);
    if (report === null || report.findings.length === 0) continue;
    const why = report.findings
      .slice(0, 3)
      .map((f) => `${f.kind} ${f.subject}`)
      .join(', ');
    await routers.retire(inst.environment, inst.service, inst, `drift: ${why}`, true);
    const digests = [inst.image, inst.release];
    await db.transaction().execute(async (trx) => {
      const logId = await log.enqueue(
        trx,
        {
          event: 'deploy.drift',
          actor: RECONCILER_ACTOR,
          time: nowIso(),
          digests,
          environment: inst.environment,
          service: inst.service,
          instance: inst.id,
          findings: report.findings,
          action: QUARANTINED,
        },
        digests,
      );
      await trx
        .insertInto('deploy_drift')
        .values({
          id: `${inst.id}@${report.checkedAt}`,
          environment: inst.environment,
          service: inst.service,
          instance: inst.id,
          release: inst.release,
          findings: JSON.stringify(report.findings),
          action: QUARANTINED,
          at: nowIso(),
          log_id: logId,
        })
        .execute();
    });
    logger?.warn({ instance: inst.id, findings: report.findings.length }, 'drift: instance quarantined');
  }
  for (const stray of await driver.strays().catch(() => [])) {
    try {
      process.kill(stray.pid, 'SIGKILL');
    } catch {}
    await db.transaction().execute((trx) =>
      log.enqueue(
        trx,
        {
          event: 'deploy.drift',
          actor: RECONCILER_ACTOR,
          time: nowIso(),
          digests: [],
          stray,
          action: 'unknown process killed',
        },
        [],
      ),
    );
    logger?.warn({ stray }, 'drift: unknown process in the runtime killed');
  }
}
