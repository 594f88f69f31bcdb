import type { Clock, Digest } from '../core/index.ts';
import type { EvidenceInput, Signature } from '../policy/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { BUNDLE_MEDIA_TYPE } from '../trust/index.ts';
import { type BundleDeps, checkReferrer, type EvidenceSource, readBlob } from './referrer-evidence.ts';
import { ReleaseError } from './release-error.ts';
import { type ApprovalRecord, type PromotionRecord, records } from './release-records.ts';

/** The evidence for one digest: the policy room's input, plus where each piece came from and what did not count. */
export interface GatheredEvidence extends EvidenceInput {
  readonly signatures: readonly Signature[];
  readonly attestations: ReadonlyArray<{ readonly predicateType: string; readonly predicate: unknown }>;
  readonly approvals: readonly ApprovalRecord[];
  /** Who pushed the digest first. */
  readonly author: string | null;
  /** The verified referrers the signatures and attestations came from, in the order the ledger recorded them. */
  readonly sources: readonly EvidenceSource[];
  /** Bundle referrers that do not count, and why. */
  readonly rejected: ReadonlyArray<{ readonly referrer: Digest; readonly reason: string }>;
  readonly promotions: readonly PromotionRecord[];
  /** The manifest's media type and size, for the referrers that will name it as their subject. */
  readonly manifest: { readonly mediaType: string; readonly size: number };
}

const CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/** Gathers everything the gates see about `digest` in `repository`, at the clock's now. */
export function createEvidenceGatherer(deps: BundleDeps & { database: StoreDatabase; clock: Clock }) {
  const { db } = deps.database;
  return async function gatherEvidence(repository: string, digest: Digest): Promise<GatheredEvidence> {
    const now = deps.clock.now();
    const record = await deps.metadata.getManifest(repository, { digest });
    if (record === null) {
      throw new ReleaseError('ARTIFACT_UNKNOWN', `Cannot gather evidence: ${repository} has no manifest ${digest}`);
    }
    const manifest = parseJSON(record.content) as {
      annotations?: Record<string, string>;
      config?: { mediaType?: string; digest?: Digest };
    } | null;
    const tags = await db
      .selectFrom('tags')
      .select('name')
      .where('repo', '=', repository)
      .where('digest', '=', digest)
      .orderBy('name')
      .execute();
    const sources: EvidenceSource[] = [];
    const rejected: Array<{ referrer: Digest; reason: string }> = [];
    for (const r of await deps.metadata.listReferrers(repository, digest, BUNDLE_MEDIA_TYPE)) {
      const checked = await checkReferrer(deps, repository, { digest, manifest: record.content }, r.digest);
      if (typeof checked === 'string') rejected.push({ referrer: r.digest, reason: checked });
      else sources.push(checked);
    }
    // Ledger order is recording order, so the newest attestation of a type is the one the gates see.
    sources.sort((a, b) => a.logIndex - b.logIndex);
    const signatures: Signature[] = sources.flatMap((s) =>
      s.kind === 'signature' ? s.roles.map((role) => ({ keyId: s.keyId, role, verified: true })) : [],
    );
    const attestations = sources.flatMap((s) =>
      s.kind === 'attestation' ? [{ predicateType: s.predicateType, predicate: s.statement.predicate ?? {} }] : [],
    );
    const promotions = await records.promotions(db, { digest });
    const stages = Object.fromEntries(
      promotions.map((p) => [p.stage, { verifiedSince: p.promotedAt, promotedAt: p.promotedAt }]),
    );
    const created = await configCreated(deps, manifest?.config);
    return {
      artifact: {
        digest,
        repository,
        tags: tags.map((t) => t.name),
        annotations: stringValues(manifest?.annotations),
        ...(created === undefined ? {} : { created }),
      },
      signatures,
      attestations,
      approvals: await records.approvals(db, digest),
      stages,
      now,
      author: await records.author(db, digest),
      sources,
      rejected,
      promotions,
      manifest: { mediaType: record.mediaType, size: record.size },
    };
  };
}

// The image config's `created`, when the manifest has an image config that says it.
async function configCreated(deps: BundleDeps, config: { mediaType?: string; digest?: Digest } | undefined) {
  if (config?.digest === undefined || !CONFIG_TYPES.has(config.mediaType ?? '')) return undefined;
  const bytes = await readBlob(deps.blobs, config.digest, 1024 * 1024);
  const created = bytes === null ? undefined : (parseJSON(bytes) as { created?: unknown } | null)?.created;
  return typeof created === 'string' && !Number.isNaN(Date.parse(created)) ? created : undefined;
}

function parseJSON(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return null;
  }
}

function stringValues(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
