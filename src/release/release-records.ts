import type { Digest } from '../core/index.ts';
import type { Executor } from '../store/index.ts';
import type { Approval, Block } from './gates.ts';

/** A promotion of a digest into a stage, pinned to the pipeline version and policy it was decided under. */
export interface PromotionRecord {
  readonly id: string;
  readonly repository: string;
  readonly digest: Digest;
  readonly stage: string;
  readonly actor: string;
  readonly trigger: 'manual' | 'auto';
  readonly promotedAt: Date;
  readonly pipelineVersion: number;
  readonly pipelineDigest: Digest;
  readonly policyDigest: Digest;
  /** Why it was promoted, as the person said (`--reason`); null for automatic and older promotions. */
  readonly reason: string | null;
  /** The VSA referrer and its ledger entry; null until the evidence is issued (repair() finishes it). */
  readonly vsa: { readonly referrer: Digest; readonly logIndex: number } | null;
}

/** An approval of a digest for a stage, as recorded. */
export interface ApprovalRecord extends Approval {
  readonly id: string;
  readonly repository: string;
  readonly digest: Digest;
}

/** Read side of the release tables; every query takes an executor so it can run inside a transaction. */
export const records = {
  async promotions(db: Executor, filter: { id?: string; digest?: string; stage?: string }): Promise<PromotionRecord[]> {
    let q = db
      .selectFrom('release_promotions as p')
      .leftJoin('release_vsas as v', 'v.promotion_id', 'p.id')
      .selectAll('p')
      .select(['v.referrer', 'v.log_index']);
    if (filter.id !== undefined) q = q.where('p.id', '=', filter.id);
    if (filter.digest !== undefined) q = q.where('p.digest', '=', filter.digest);
    if (filter.stage !== undefined) q = q.where('p.stage', '=', filter.stage);
    // Claim order breaks ties between promotions at the same time.
    const rows = await q.orderBy('p.promoted_at').orderBy('p.log_id').execute();
    return rows.map((r) => ({
      id: r.id,
      repository: r.repository,
      digest: r.digest as Digest,
      stage: r.stage,
      actor: r.actor,
      trigger: r.trigger as 'manual' | 'auto',
      promotedAt: new Date(r.promoted_at),
      pipelineVersion: Number(r.pipeline_version),
      pipelineDigest: r.pipeline_digest as Digest,
      policyDigest: r.policy_digest as Digest,
      reason: r.reason ?? null,
      vsa:
        r.referrer === null || r.log_index === null
          ? null
          : { referrer: r.referrer as Digest, logIndex: Number(r.log_index) },
    }));
  },

  /** The highest promotion number of a stage (0 when none): the state an evaluation starts from. */
  async stageSeq(db: Executor, stage: string): Promise<number> {
    const row = await db
      .selectFrom('release_promotions')
      .select((eb) => eb.fn.max('stage_seq').as('seq'))
      .where('stage', '=', stage)
      .executeTakeFirst();
    return Number(row?.seq ?? 0);
  },

  async approvals(db: Executor, digest: string): Promise<ApprovalRecord[]> {
    const rows = await db
      .selectFrom('release_approvals')
      .selectAll()
      .where('digest', '=', digest)
      .orderBy('at')
      .orderBy('log_id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      repository: r.repository,
      digest: r.digest as Digest,
      user: r.actor,
      stage: r.stage,
      at: new Date(r.at),
      comment: r.comment,
      groups: JSON.parse(r.groups) as string[],
    }));
  },

  /** The veto in force on a digest, or null. */
  async veto(db: Executor, digest: string): Promise<Block | null> {
    const row = await db
      .selectFrom('release_vetoes')
      .selectAll()
      .where('digest', '=', digest)
      .orderBy('log_id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.action === 'veto' ? { by: row.actor, reason: row.reason, at: new Date(row.at) } : null;
  },

  /** Every hold in force, by stage. */
  async holds(db: Executor, stage?: string): Promise<Map<string, Block>> {
    let q = db.selectFrom('release_holds').selectAll();
    if (stage !== undefined) q = q.where('stage', '=', stage);
    const held = new Map<string, Block>();
    for (const row of await q.orderBy('log_id').execute()) {
      if (row.action === 'hold') held.set(row.stage, { by: row.actor, reason: row.reason, at: new Date(row.at) });
      else held.delete(row.stage);
    }
    return held;
  },

  /** Who pushed the digest first: the author of the build. */
  async author(db: Executor, digest: string): Promise<string | null> {
    const row = await db
      .selectFrom('events')
      .select('actor')
      .where('kind', '=', 'manifest.push')
      .where('digest', '=', digest)
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    return row?.actor ?? null;
  },
};
