import type { Digest } from '../core/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import type { PipelineStore } from './pipeline-store.ts';
import type { PromoteResult, Promotion } from './promotion.ts';
import { records } from './release-records.ts';

/** Who automatic promotions are recorded as. */
export const AUTO_ACTOR = 'fixity:auto-promotion';

/** One automatic attempt: the promotion's result, or the error that stopped it. */
export type AutoOutcome = { readonly stage: string; readonly repository: string; readonly digest: Digest } & (
  | { readonly kind: 'result'; readonly result: PromoteResult }
  | { readonly kind: 'error'; readonly message: string }
);

/**
 * Promotes, through the same evaluator as a person, every digest that reached the upstream of an `auto` stage
 * that is not held, pass after pass until a pass promotes nothing (so a chain advances in one run). Runs in
 * this process one after another; a digest already in a stage is not tried again.
 */
export function createAutoPromotion(deps: { database: StoreDatabase; pipelines: PipelineStore; promotion: Promotion }) {
  const { db } = deps.database;
  let tail: Promise<unknown> = Promise.resolve();

  async function run(): Promise<AutoOutcome[]> {
    const outcomes: AutoOutcome[] = [];
    const stageCount = (await deps.pipelines.current())?.spec.stages.length ?? 0;
    for (let pass = 0; pass < stageCount; pass++) {
      const pipeline = await deps.pipelines.current();
      if (pipeline === null) break;
      const holds = await records.holds(db);
      let progress = false;
      for (const stage of pipeline.spec.stages) {
        if (!stage.auto || holds.has(stage.name) || stage.from.length === 0) continue;
        for (const c of await candidates(stage.from, stage.name, stage.require)) {
          const target = { stage: stage.name, repository: c.repository, digest: c.digest };
          try {
            const result = await deps.promotion.promote({ ...target, actor: AUTO_ACTOR, trigger: 'auto' });
            outcomes.push({ ...target, kind: 'result', result });
            progress ||= result.kind === 'promoted' || result.kind === 'incomplete';
          } catch (err) {
            outcomes.push({ ...target, kind: 'error', message: (err as Error).message });
          }
        }
      }
      if (!progress) break;
    }
    return outcomes;
  }

  // Digests promoted into the upstream stages (all of them, or any) and not yet into `stage`.
  async function candidates(from: readonly string[], stage: string, require: 'all' | 'any') {
    const rows = await db
      .selectFrom('release_promotions')
      .select(['digest', 'repository', 'stage'])
      .where('stage', 'in', [...from])
      .where('digest', 'not in', (eb) =>
        eb.selectFrom('release_promotions').select('digest').where('stage', '=', stage),
      )
      .orderBy('promoted_at')
      .execute();
    const byDigest = new Map<string, { digest: Digest; repository: string; stages: Set<string> }>();
    for (const r of rows) {
      const entry = byDigest.get(r.digest) ?? {
        digest: r.digest as Digest,
        repository: r.repository,
        stages: new Set(),
      };
      entry.stages.add(r.stage);
      byDigest.set(r.digest, entry);
    }
    return [...byDigest.values()].filter((c) =>
      require === 'all' ? from.every((s) => c.stages.has(s)) : from.some((s) => c.stages.has(s)),
    );
  }

  return function runAutoPromotions(): Promise<AutoOutcome[]> {
    const next = tail.then(run, run);
    tail = next.catch(() => undefined);
    return next;
  };
}
