import type { Clock, Digest, Signer } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { BlobStore, RegistryMetadata, StoreDatabase } from '../store/index.ts';
import type { Envelope, TrustStore } from '../trust/index.ts';
import { type AutoOutcome, createAutoPromotion } from './auto-promotion.ts';
import { createEvidenceGatherer } from './evidence-gatherer.ts';
import type { Block } from './gates.ts';
import { createPipelineStore } from './pipeline-store.ts';
import { createPromotion } from './promotion.ts';
import { createReleaseActions } from './release-actions.ts';
import { createReleaseLog } from './release-log.ts';
import { type PromotionRecord, records } from './release-records.ts';
import { createReleaseStatus } from './release-status.ts';
import { createVsaIssuer, type EvidenceStep, type IssuedVsa } from './vsa-issuer.ts';

export interface ReleaseDeps {
  database: StoreDatabase;
  metadata: RegistryMetadata;
  blobs: BlobStore;
  ledger: Ledger;
  trust: TrustStore;
  /** Signs VSAs and their entry timestamps: the server's ledger key. */
  signer: Signer;
  /** The VSA `verifier.id`, e.g. `https://fixity.local/verifier/<keyid16>`. */
  verifierId: string;
  /** The registry's host[:port], for `oci://host/repo@digest` resource URIs. */
  registryHost: string;
  clock: Clock;
}

/** The release room's service: pipeline versions, evidence, promotions with VSAs, approvals, vetoes, holds. */
export function createReleaseService(deps: ReleaseDeps) {
  const { database, clock } = deps;
  const { db } = database;
  const log = createReleaseLog({ database, ledger: deps.ledger, clock });
  const pipelines = createPipelineStore({ database, log, clock });
  const gatherEvidence = createEvidenceGatherer(deps);
  const issue = createVsaIssuer({ ...deps, log });
  const promotion = createPromotion({ ...deps, pipelines, log, gather: gatherEvidence, issue });
  const actions = createReleaseActions({ ...deps, pipelines, log });
  const status = createReleaseStatus({ database, pipelines, promotion, gather: gatherEvidence });
  const runAutoPromotions = createAutoPromotion({ database, pipelines, promotion });

  /** Finishes what a failure or crash left: queued ledger leaves, then promotions still without their VSA. */
  async function repair(): Promise<
    Array<{ promotion: PromotionRecord; steps: EvidenceStep[]; vsa: IssuedVsa | null }>
  > {
    await log.flush().catch(() => undefined); // a failing ledger is reported per promotion below
    const rows = await db
      .selectFrom('release_promotions as p')
      .leftJoin('release_vsas as v', 'v.promotion_id', 'p.id')
      .select(['p.id', 'p.envelope', 'p.log_id'])
      .where('v.promotion_id', 'is', null)
      .orderBy('p.promoted_at')
      .execute();
    const out = [];
    for (const row of rows) {
      const p = (await records.promotions(db, { id: row.id }))[0]!;
      const image = await deps.metadata.getManifest(p.repository, { digest: p.digest });
      if (image === null) {
        const steps: EvidenceStep[] = [
          { name: 'referrer', ok: false, detail: `${p.repository} no longer has the image` },
        ];
        out.push({ promotion: p, steps, vsa: null });
        continue;
      }
      const subject = { mediaType: image.mediaType, size: image.size };
      const envelope = JSON.parse(row.envelope) as Envelope;
      out.push({
        promotion: p,
        ...(await issue({ ...p, promotionId: p.id, envelope, logId: Number(row.log_id), subject })),
      });
    }
    return out;
  }

  return {
    /** The release room's ledger outbox; the deploy room writes its changes through it too. */
    log,
    /** Validates and stores a pipeline as a new version (none when unchanged); enabling `auto` needs an admin. */
    applyPipeline: pipelines.apply,
    /** The current pipeline version: number, digest, validated spec and the YAML as applied. */
    pipeline: () => pipelines.current(),
    gatherEvidence,
    /** Evaluates and, when every step passes, records the promotion and issues its VSA. */
    promote: promotion.promote,
    /** The same evaluation as promote, changing nothing: a dry run. */
    planPromotion: promotion.plan,
    status,
    approve: actions.approve,
    veto: actions.veto,
    liftVeto: actions.liftVeto,
    /** True while a veto stands on the digest: it may be promoted or deployed nowhere. */
    isVetoed: async (digest: Digest): Promise<boolean> => (await records.veto(db, digest)) !== null,
    hold: actions.hold,
    unhold: actions.unhold,
    /** Holds in force, by stage. */
    async holds(): Promise<Array<{ stage: string } & Block>> {
      return [...(await records.holds(db))].map(([stage, block]) => ({ stage, ...block }));
    },
    /** Promotions, optionally of one digest or into one stage, oldest first. */
    promotions: (filter: { digest?: Digest; stage?: string } = {}) => records.promotions(db, filter),
    /** Repairs, then promotes automatically where the pipeline allows it; safe to call repeatedly. */
    async runAutoPromotions(): Promise<AutoOutcome[]> {
      await repair();
      return runAutoPromotions();
    },
    repair,
  };
}

export type ReleaseService = ReturnType<typeof createReleaseService>;
