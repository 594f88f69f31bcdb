import { canonicalJSON, type Digest } from '../core/index.ts';
import type { Router } from '../runtime/index.ts';
import { type AnalysisRunResult, evaluateAnalysis } from './analysis.ts';
import { deployRecords, type EnvironmentVersion, type RolloutRecord, type RolloutStatus } from './deploy-records.ts';
import type { StoredRollout } from './deploy-service.ts';
import type { ServiceSpec } from './environment-spec.ts';
import { counts, scale } from './reconcile-instances.ts';
import type { ReconcilerContext } from './reconciler-context.ts';
import { RECONCILER_ACTOR } from './step-recorder.ts';
import { type Action, type Command, step } from './strategy.ts';

/**
 * The reconciler's steps on an active rollout: observe, run the strategy's state machine once, store what it
 * decided (with the operator commands and analysis it consumed) in one transaction, then scale and shift
 * traffic; and, once the machine finishes, conclude the rollout. The state is stored before it is acted on,
 * so a pass cut short is redone from the same state.
 */

/** Operator commands not yet applied; marked consumed in the transaction that stores their effect. */
async function pendingCommands(
  ctx: Pick<ReconcilerContext, 'db'>,
  rolloutId: string,
): Promise<Array<{ id: number; command: Command }>> {
  const rows = await ctx.db
    .selectFrom('deploy_commands')
    .select(['id', 'command'])
    .where('rollout_id', '=', rolloutId)
    .where('consumed_at', 'is', null)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: Number(r.id), command: r.command as Command }));
}

function finishAnalysis(
  ctx: Pick<ReconcilerContext, 'analyses' | 'clock' | 'nowIso'>,
  rollout: RolloutRecord,
  router: Router,
): AnalysisRunResult | undefined {
  const { analyses, clock } = ctx;
  const pending = analyses.get(rollout.id);
  if (pending === undefined) return undefined;
  if (clock.now().getTime() - pending.startedAt < pending.spec.intervalMs) return undefined;
  analyses.delete(rollout.id);
  const canary = router.window(pending.canary, pending.mark);
  const baseline = pending.baseline === null ? null : router.window(pending.baseline, pending.mark);
  return { ...evaluateAnalysis(pending.spec, baseline, canary), at: ctx.nowIso() };
}

/** One step of the rollout's state machine, stored and then carried out. */
export async function advance(
  ctx: ReconcilerContext,
  env: EnvironmentVersion,
  svc: ServiceSpec,
  rollout: RolloutRecord,
) {
  const { db, clock, analyses, routers, nowIso } = ctx;
  const { record } = ctx.steps;
  const router = await routers.routerFor(env.name, svc.name);
  const stored = JSON.parse(JSON.stringify(rollout.state)) as StoredRollout;
  const analysis = finishAnalysis(ctx, rollout, router);
  const pending = await pendingCommands(ctx, rollout.id);
  const commands = pending.map((p) => p.command);
  const { state, actions: todo } = step(svc, stored.machine, {
    now: clock.now(),
    counts: counts(ctx, env.name, svc.name),
    ...(analysis === undefined ? {} : { analysis }),
    commands,
  });
  const desired = { ...stored.desired };
  let weights: Record<string, number> | null = null;
  let finish: { status: RolloutStatus; reason: string } | null = null;
  for (const a of todo as Action[]) {
    if (a.kind === 'scale') desired[a.release] = a.replicas;
    else if (a.kind === 'weights') weights = a.weights;
    else if (a.kind === 'analyze' && !analyses.has(rollout.id))
      analyses.set(rollout.id, {
        spec: a.spec,
        baseline: a.baseline,
        canary: a.canary,
        mark: router.mark(),
        startedAt: clock.now().getTime(),
      });
    else if (a.kind === 'complete') finish = { status: 'completed', reason: 'promoted' };
    else if (a.kind === 'rollback')
      finish = { status: state.phase === 'aborted' ? 'aborted' : 'rolledBack', reason: a.reason };
  }
  const next: StoredRollout = { machine: state, desired };
  const changed = canonicalJSON(next) !== canonicalJSON(stored);
  if (changed || analysis !== undefined || commands.length > 0) {
    await db.transaction().execute(async (trx) => {
      const digests = [rollout.target];
      if (analysis !== undefined) {
        const detail = analysis.checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.name}: ${c.detail}`).join('; ');
        const result = analysis.inconclusive ? 'skipped' : analysis.passed ? 'applied' : 'failed';
        await record(trx, rollout, 'analysis', result, detail || 'inconclusive', digests, { analysis });
      }
      for (const c of commands) await record(trx, rollout, `command.${c}`, 'applied', c, digests);
      if (pending.length > 0)
        await trx
          .updateTable('deploy_commands')
          .set({ consumed_at: nowIso() })
          .where(
            'id',
            'in',
            pending.map((p) => p.id),
          )
          .execute();
      if (canonicalJSON(next.desired) !== canonicalJSON(stored.desired))
        await record(trx, rollout, 'scale', 'applied', describe(desired), digests, { desired });
      if (weights !== null && canonicalJSON(weights) !== canonicalJSON(stored.machine.weights))
        await record(trx, rollout, 'weights', 'applied', describe(weights), digests, { weights });
      if (state.phase !== stored.machine.phase)
        await record(trx, rollout, `phase.${state.phase}`, 'applied', state.message, digests);
      await trx
        .updateTable('deploy_rollouts')
        .set({ state: JSON.stringify(next), updated_at: nowIso() })
        .where('id', '=', rollout.id)
        .execute();
    });
  }
  for (const [rel, n] of Object.entries(desired)) await scale(ctx, env, svc, rel as Digest, n, rollout);
  await routers.sync(env.name, svc.name, weights ?? state.weights);
  if (finish !== null) await conclude(ctx, env, svc, rollout, finish);
}

/**
 * Ends a rollout: its status, the release the service now serves, and a ledger step in one transaction. A
 * rollback also holds automatic promotion into the environment's stage.
 */
async function conclude(
  ctx: ReconcilerContext,
  env: EnvironmentVersion,
  svc: ServiceSpec,
  rollout: RolloutRecord,
  finish: { status: RolloutStatus; reason: string },
) {
  const { db, release, logger, analyses, nowIso } = ctx;
  const { record } = ctx.steps;
  const serving = finish.status === 'completed' ? rollout.target : rollout.stable;
  await db.transaction().execute(async (trx) => {
    const current = await deployRecords.service(trx, env.name, svc.name);
    await trx
      .updateTable('deploy_rollouts')
      .set({ status: finish.status, updated_at: nowIso() })
      .where('id', '=', rollout.id)
      .execute();
    await record(trx, rollout, `rollout.${finish.status}`, 'applied', finish.reason, [rollout.target], {
      environment: env.name,
      service: svc.name,
      rollout: rollout.id,
    });
    await deployRecords.upsertService(
      trx,
      {
        environment: env.name,
        service: svc.name,
        currentRelease: serving,
        previousRelease: finish.status === 'completed' ? rollout.stable : (current?.previousRelease ?? null),
        rolloutId: null,
        routerPort: current?.routerPort ?? null,
      },
      nowIso(),
    );
  });
  analyses.delete(rollout.id);
  if (finish.status === 'rolledBack') {
    // Automation must not redo what analysis refused: hold automatic promotion into this stage.
    await release
      .hold({
        stage: env.spec.stage,
        actor: RECONCILER_ACTOR,
        reason: `rollout ${rollout.id} rolled back: ${finish.reason}`,
      })
      .catch((err: Error) => logger?.warn({ err: err.message }, 'could not hold the stage after a rollback'));
  }
  logger?.info(
    { environment: env.name, service: svc.name, rollout: rollout.id, status: finish.status },
    'rollout finished',
  );
}

function describe(map: Record<string, number>): string {
  return Object.entries(map)
    .map(([rel, n]) => `${rel.slice(7, 19)}=${n}`)
    .join(' ');
}
