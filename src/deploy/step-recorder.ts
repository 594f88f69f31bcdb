import type { Clock } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { Executor, StoreDatabase } from '../store/index.ts';
import type { RolloutRecord } from './deploy-records.ts';

/** Who the ledger names for what the reconciler does on its own. */
export const RECONCILER_ACTOR = 'fixity:reconciler';

export type StepResult = 'applied' | 'failed' | 'skipped';

/**
 * Every reconcile step is stored with its rollout (`deploy_steps`) and, unless skipped, written to the
 * ledger through the release outbox in the same transaction.
 */
export function createStepRecorder(deps: { database: StoreDatabase; release: ReleaseService; clock: Clock }) {
  const { db } = deps.database;
  const log = deps.release.log;
  const nowIso = () => deps.clock.now().toISOString();

  async function record(
    trx: Executor,
    rollout: RolloutRecord | null,
    action: string,
    result: StepResult,
    detail: string,
    digests: readonly string[],
    extra: object = {},
  ): Promise<void> {
    if (rollout !== null) {
      await trx
        .insertInto('deploy_steps')
        .values({ rollout_id: rollout.id, at: nowIso(), action, result, detail })
        .execute();
    }
    if (result !== 'skipped') {
      await log.enqueue(
        trx,
        {
          event: `deploy.${action}`,
          actor: RECONCILER_ACTOR,
          time: nowIso(),
          digests: [...digests],
          result,
          detail,
          ...extra,
        },
        digests,
      );
    }
  }

  return {
    record,
    /** Records one step about one instance, in its own transaction. */
    recordInstance: (
      rollout: RolloutRecord | null,
      action: string,
      result: 'applied' | 'failed',
      detail: string,
      inst: { id: string; image: string; release: string; environment: string; service: string },
    ) =>
      db.transaction().execute((trx) =>
        record(trx, rollout, action, result, detail, [inst.image, inst.release], {
          environment: inst.environment,
          service: inst.service,
          instance: inst.id,
        }),
      ),
  };
}

export type StepRecorder = ReturnType<typeof createStepRecorder>;
