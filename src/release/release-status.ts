import type { Digest } from '../core/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import type { GatheredEvidence } from './evidence-gatherer.ts';
import type { Block, PromotionDecision } from './gates.ts';
import type { PipelineStore } from './pipeline-store.ts';
import type { Promotion } from './promotion.ts';
import { type PromotionRecord, records } from './release-records.ts';

/** Where a digest is, and what it lacks for each stage it could enter next. */
export interface DigestStatus {
  readonly repository: string;
  readonly digest: Digest;
  readonly author: string | null;
  readonly veto: Block | null;
  readonly pipeline: { readonly version: number; readonly digest: Digest } | null;
  /** Stages the digest was promoted into, oldest first, each with who, when, under which policy, and its VSA. */
  readonly promotions: readonly PromotionRecord[];
  /** Dry-run decisions (manual trigger) for every stage not entered yet whose upstream it has reached. */
  readonly next: ReadonlyArray<{
    readonly stage: string;
    readonly hold: Block | null;
    readonly decision: PromotionDecision;
  }>;
  /** The evidence the gates see, and the referrers that did not count, with why. */
  readonly evidence: {
    readonly signatures: GatheredEvidence['signatures'];
    readonly attestations: ReadonlyArray<{ readonly predicateType: string; readonly referrer: Digest }>;
    readonly rejected: GatheredEvidence['rejected'];
  };
}

/** Answers "where is this digest, and what does it lack for the next stage?" */
export function createReleaseStatus(deps: {
  database: StoreDatabase;
  pipelines: PipelineStore;
  promotion: Promotion;
  gather: (repository: string, digest: Digest) => Promise<GatheredEvidence>;
}) {
  return async function status(
    repository: string,
    digest: Digest,
    options: { actor?: string } = {},
  ): Promise<DigestStatus> {
    const pipeline = await deps.pipelines.current();
    const evidence = await deps.gather(repository, digest);
    const entered = new Set(evidence.promotions.map((p) => p.stage));
    const holds = await records.holds(deps.database.db);
    const next = [];
    for (const stage of pipeline?.spec.stages ?? []) {
      if (entered.has(stage.name)) continue;
      if (stage.from.length > 0 && !stage.from.some((s) => entered.has(s))) continue;
      const decision = await deps.promotion.decide(pipeline!, stage, evidence, {
        actor: options.actor ?? '',
        trigger: 'manual',
      });
      next.push({ stage: stage.name, hold: holds.get(stage.name) ?? null, decision });
    }
    return {
      repository,
      digest,
      author: evidence.author,
      veto: await records.veto(deps.database.db, digest),
      pipeline: pipeline === null ? null : { version: pipeline.version, digest: pipeline.digest },
      promotions: evidence.promotions,
      next,
      evidence: {
        signatures: evidence.signatures,
        attestations: evidence.sources.flatMap((s) =>
          s.kind === 'attestation' ? [{ predicateType: s.predicateType, referrer: s.referrer }] : [],
        ),
        rejected: evidence.rejected,
      },
    };
  };
}
