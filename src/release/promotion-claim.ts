import type { Executor, StoreDatabase } from '../store/index.ts';
import type { PromotionDecision } from './gates.ts';
import type { ReleaseLog } from './release-log.ts';
import { type PromotionRecord, records } from './release-records.ts';

/** Everything a claim writes: the promotion row and its ledger leaf, in one transaction. */
export interface Claim {
  readonly promotion: PromotionRecord;
  /** The stage's promotion number this claim takes: one past the number its evaluation saw. */
  readonly seq: number;
  readonly leaf: object;
  readonly decision: PromotionDecision;
  /** JSON of the signed VSA envelope. */
  readonly envelope: string;
}

class Lost extends Error {}

/**
 * Records a promotion in one transaction, under the stage's and the digest's locks. It loses (nothing written)
 * when a veto or, for automatic promotion, a hold landed since the evaluation began, when the digest got into
 * the stage meanwhile, or when another digest took the stage's next number first (unique (stage, stage_seq)).
 */
export async function claimPromotion(
  deps: { database: StoreDatabase; log: ReleaseLog },
  claim: Claim,
): Promise<{ kind: 'claimed'; logId: number } | { kind: 'lost'; message: string }> {
  try {
    const logId = await deps.database.db.transaction().execute((trx) => write(trx, deps.log, claim));
    await deps.database.durable();
    return { kind: 'claimed', logId };
  } catch (err) {
    if (!(err instanceof Lost) && !isUniqueViolation(err)) throw err;
    return { kind: 'lost', message: await lostTo(deps.database, claim.promotion, err) };
  }
}

/** The conflict message for a digest already in the stage. */
export function alreadyIn(p: PromotionRecord): string {
  return `Cannot promote ${p.digest} into ${p.stage}: it was promoted there by ${p.actor} at ${p.promotedAt.toISOString()}`;
}

async function write(trx: Executor, log: ReleaseLog, { promotion: p, seq, leaf, decision, envelope }: Claim) {
  await log.lock(trx, `release:stage:${p.stage}`);
  await log.lock(trx, `release:digest:${p.digest}`);
  const veto = await records.veto(trx, p.digest);
  if (veto !== null) throw new Lost(`${p.digest} was vetoed by ${veto.by} during the evaluation: ${veto.reason}`);
  const hold = p.trigger === 'auto' ? (await records.holds(trx, p.stage)).get(p.stage) : undefined;
  if (hold !== undefined) throw new Lost(`${p.stage} was held by ${hold.by} during the evaluation: ${hold.reason}`);
  const logId = await log.enqueue(trx, leaf, [p.digest]);
  await trx
    .insertInto('release_promotions')
    .values({
      id: p.id,
      repository: p.repository,
      digest: p.digest,
      stage: p.stage,
      stage_seq: seq,
      pipeline_version: p.pipelineVersion,
      pipeline_digest: p.pipelineDigest,
      policy_digest: p.policyDigest,
      trigger: p.trigger,
      actor: p.actor,
      promoted_at: p.promotedAt.toISOString(),
      decision: JSON.stringify(decision.steps),
      envelope,
      log_id: logId,
      reason: p.reason,
    })
    .execute();
  return logId;
}

// Why a claim lost: a change during the evaluation, the digest promoted meanwhile, or another digest first.
async function lostTo(database: StoreDatabase, p: PromotionRecord, err: unknown): Promise<string> {
  if (err instanceof Lost) return `Cannot promote ${p.digest} into ${p.stage}: ${err.message}`;
  const mine = await records.promotions(database.db, { digest: p.digest, stage: p.stage });
  if (mine[0] !== undefined) return alreadyIn(mine[0]);
  const latest = (await records.promotions(database.db, { stage: p.stage })).at(-1);
  const other = latest === undefined ? 'another promotion' : `${latest.digest} (by ${latest.actor})`;
  return `Cannot promote ${p.digest} into ${p.stage}: ${other} was promoted into it during the evaluation; evaluate again`;
}

// PostgreSQL SQLSTATE 23505, or SQLite's "UNIQUE constraint failed".
function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '23505' || (typeof e.message === 'string' && e.message.includes('UNIQUE constraint failed'));
}
