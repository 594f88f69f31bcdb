import { type Digest, newId, type Signer } from '../core/index.ts';
import { buildEvidenceContext, type CompiledPolicy, compilePolicy } from '../policy/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import type { GatheredEvidence } from './evidence-gatherer.ts';
import { decidePromotion, type PromotionDecision } from './gates.ts';
import type { StageSpec } from './pipeline-spec.ts';
import type { PipelineStore, PipelineVersion } from './pipeline-store.ts';
import { alreadyIn, claimPromotion } from './promotion-claim.ts';
import { ReleaseError } from './release-error.ts';
import type { ReleaseLog } from './release-log.ts';
import { type PromotionRecord, records } from './release-records.ts';
import { promotionLeaf, signVsa, vsaStatement } from './vsa.ts';
import type { EvidenceStep, IssuedVsa, PendingVsa } from './vsa-issuer.ts';

export interface PromoteRequest {
  readonly repository: string;
  readonly digest: Digest;
  readonly stage: string;
  readonly actor: string;
  readonly trigger: 'manual' | 'auto';
  /** Why (CLI `--reason`): required for a manual promotion into a protected stage, kept in the ledger. */
  readonly reason?: string | undefined;
}

export type PromoteResult =
  /** Recorded, in the ledger, and its VSA stored as a referrer of the image. */
  | {
      readonly kind: 'promoted';
      readonly promotion: PromotionRecord;
      readonly decision: PromotionDecision;
      readonly vsa: IssuedVsa;
      readonly steps: readonly EvidenceStep[];
    }
  /** Recorded (the promotion holds), but a later step failed; `repair()` finishes it. */
  | {
      readonly kind: 'incomplete';
      readonly promotion: PromotionRecord;
      readonly decision: PromotionDecision;
      readonly steps: readonly EvidenceStep[];
    }
  /** A gate did not pass: nothing changed; every step says why. */
  | { readonly kind: 'refused'; readonly decision: PromotionDecision }
  /** Another change won: the digest is in the stage already, or the stage or veto changed during evaluation. */
  | { readonly kind: 'conflict'; readonly message: string };

/** A dry run of a promotion (`plan`): what would happen, under which pipeline version. */
export type PromotionPlan =
  | {
      readonly kind: 'would-promote' | 'would-refuse';
      readonly decision: PromotionDecision;
      readonly pipelineVersion: number;
    }
  | { readonly kind: 'already-in'; readonly message: string; readonly pipelineVersion: number };

export interface PromotionDeps {
  database: StoreDatabase;
  pipelines: PipelineStore;
  log: ReleaseLog;
  signer: Signer;
  verifierId: string;
  registryHost: string;
  gather: (repository: string, digest: Digest) => Promise<GatheredEvidence>;
  issue: (p: PendingVsa) => Promise<{ steps: EvidenceStep[]; vsa: IssuedVsa | null }>;
}

/** The promotion flow: pin, evaluate with decidePromotion, sign, claim in one transaction, then issue evidence. */
export function createPromotion(deps: PromotionDeps) {
  const { db } = deps.database;
  const compiled = new Map<string, CompiledPolicy>();
  const policyOf = (pipeline: PipelineVersion, stage: StageSpec) => {
    const key = `${pipeline.digest}#${stage.name}`;
    const policy = compiled.get(key) ?? compilePolicy(stage.gates);
    compiled.set(key, policy);
    return policy;
  };

  /** Dry-runs (or runs) the decision for `stage` on evidence already gathered, under `pipeline`. */
  async function decide(
    pipeline: PipelineVersion,
    stage: StageSpec,
    evidence: GatheredEvidence,
    who: { actor: string; trigger: 'manual' | 'auto' },
  ): Promise<PromotionDecision> {
    return decidePromotion({
      stage,
      policy: policyOf(pipeline, stage),
      context: buildEvidenceContext(evidence),
      approvals: evidence.approvals,
      history: evidence.promotions.map((p) => ({ stage: p.stage, verifiedAt: p.promotedAt })),
      now: evidence.now,
      veto: await records.veto(db, evidence.artifact.digest),
      hold: (await records.holds(db, stage.name)).get(stage.name) ?? null,
      author: evidence.author,
      promoter: who.actor,
      trigger: who.trigger,
    });
  }

  /** The pipeline version and stage a request is evaluated under, read once at its start. */
  async function pin(stageName: string): Promise<{ pipeline: PipelineVersion; stage: StageSpec }> {
    const pipeline = await deps.pipelines.current();
    if (pipeline === null) throw new ReleaseError('PIPELINE_UNSET', 'Cannot promote: no pipeline has been applied');
    const stage = pipeline.spec.stages.find((s) => s.name === stageName);
    if (stage === undefined) {
      const names = pipeline.spec.stages.map((s) => s.name).join(', ');
      throw new ReleaseError('STAGE_UNKNOWN', `Cannot promote into "${stageName}": the stages are ${names}`);
    }
    return { pipeline, stage };
  }

  async function promote(req: PromoteRequest): Promise<PromoteResult> {
    const { pipeline, stage } = await pin(req.stage);
    const reason = req.reason?.trim() || null;
    if (stage.protected === true && req.trigger === 'manual' && reason === null)
      throw new ReleaseError(
        'REASON_REQUIRED',
        `Cannot promote into protected stage ${stage.name} without a reason: say why, it goes into the ledger (fixity promote REF --to ${stage.name} --reason "…")`,
      );
    const seen = await records.stageSeq(db, stage.name);
    const evidence = await deps.gather(req.repository, req.digest);
    const already = evidence.promotions.find((p) => p.stage === stage.name);
    if (already !== undefined) return { kind: 'conflict', message: alreadyIn(already) };
    const decision = await decide(pipeline, stage, evidence, req);
    if (!decision.allowed) return { kind: 'refused', decision };
    const now = evidence.now;
    const { reason: _said, ...target } = req;
    const base = { ...target, pipelineVersion: pipeline.version, pipelineDigest: pipeline.digest };
    const { envelope, payload } = await signVsa(
      deps.signer,
      vsaStatement({
        ...base,
        verifierId: deps.verifierId,
        registryHost: deps.registryHost,
        timeVerified: now,
        policyDigest: decision.policyDigest,
        inputs: evidence.sources.map((s) => s.referrer),
      }),
    );
    const promotion: PromotionRecord = {
      id: newId(),
      ...base,
      promotedAt: now,
      policyDigest: decision.policyDigest,
      reason,
      vsa: null,
    };
    const leaf = promotionLeaf({
      ...promotion,
      envelope,
      signer: deps.signer,
      promotionId: promotion.id,
      time: now,
      vsa: payload,
    });
    const claimed = await claimPromotion(deps, {
      promotion,
      seq: seen + 1,
      leaf,
      decision,
      envelope: JSON.stringify(envelope),
    });
    if (claimed.kind === 'lost') return { kind: 'conflict', message: claimed.message };
    const { logId } = claimed;
    const pending = { promotionId: promotion.id, ...promotion, envelope, logId, subject: evidence.manifest };
    const { steps, vsa } = await deps.issue(pending);
    if (vsa === null) return { kind: 'incomplete', promotion, decision, steps };
    return {
      kind: 'promoted',
      promotion: { ...promotion, vsa: { referrer: vsa.referrer, logIndex: vsa.logIndex } },
      decision,
      vsa,
      steps,
    };
  }

  /**
   * What `promote` would do now, without doing it: the same pipeline, evidence and decision, but nothing is
   * signed, claimed or logged. A later promote may still differ (a veto, an approval or the clock moving).
   */
  async function plan(req: PromoteRequest): Promise<PromotionPlan> {
    const { pipeline, stage } = await pin(req.stage);
    const evidence = await deps.gather(req.repository, req.digest);
    const pipelineVersion = pipeline.version;
    const already = evidence.promotions.find((p) => p.stage === stage.name);
    if (already !== undefined) return { kind: 'already-in', message: alreadyIn(already), pipelineVersion };
    const decision = await decide(pipeline, stage, evidence, req);
    return { kind: decision.allowed ? 'would-promote' : 'would-refuse', decision, pipelineVersion };
  }

  return { pin, decide, promote, plan, policyOf };
}

export type Promotion = ReturnType<typeof createPromotion>;
