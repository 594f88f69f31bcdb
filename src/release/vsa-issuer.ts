import { type Clock, type Digest, digestOf, type Signer } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { BlobStore, RegistryMetadata, StoreDatabase } from '../store/index.ts';
import {
  BUNDLE_MEDIA_TYPE,
  bundleReferrer,
  createBundle,
  type Envelope,
  loggedTlogEntry,
  type SigstoreBundle,
} from '../trust/index.ts';
import type { ReleaseLog } from './release-log.ts';

/** One step of issuing a promotion's evidence after the promotion is recorded. */
export interface EvidenceStep {
  readonly name: 'ledger' | 'referrer' | 'record';
  readonly ok: boolean;
  readonly detail: string;
}

/** The VSA as issued: a Sigstore bundle with its ledger proof, stored as a referrer of the image. */
export interface IssuedVsa {
  readonly referrer: Digest;
  readonly logIndex: number;
  readonly bundle: SigstoreBundle;
}

/** What issuing needs of a recorded promotion. */
export interface PendingVsa {
  readonly promotionId: string;
  readonly repository: string;
  readonly digest: Digest;
  readonly actor: string;
  readonly promotedAt: Date;
  readonly envelope: Envelope;
  readonly logId: number;
  readonly subject: { readonly mediaType: string; readonly size: number };
}

export interface VsaIssuerDeps {
  database: StoreDatabase;
  metadata: RegistryMetadata;
  blobs: BlobStore;
  ledger: Ledger;
  signer: Signer;
  log: ReleaseLog;
  clock: Clock;
}

/**
 * Finishes a recorded promotion: its leaf into the ledger, the bundle (with inclusion proof and SET) stored as
 * a referrer of the image in this registry, then the VSA row. Every step is idempotent, so a failed one is
 * simply run again; one issue per promotion runs at a time in this process.
 */
export function createVsaIssuer(deps: VsaIssuerDeps) {
  const running = new Map<string, Promise<{ steps: EvidenceStep[]; vsa: IssuedVsa | null }>>();

  async function issue(p: PendingVsa): Promise<{ steps: EvidenceStep[]; vsa: IssuedVsa | null }> {
    const steps: EvidenceStep[] = [];
    const logged = await deps.log.settle(p.logId);
    if (logged.logIndex === null) {
      steps.push({ name: 'ledger', ok: false, detail: `not in the ledger yet: ${logged.pending ?? 'pending'}` });
      return { steps, vsa: null };
    }
    const logIndex = logged.logIndex;
    steps.push({ name: 'ledger', ok: true, detail: `ledger entry ${logIndex}` });
    let vsa: IssuedVsa;
    try {
      const leaf = await deps.ledger.entry(logIndex);
      if (leaf === null) throw new Error(`ledger entry ${logIndex} is missing`);
      const tlog = await loggedTlogEntry({
        ledgerSigner: deps.signer,
        logIndex,
        kind: 'dsse',
        body: leaf.body,
        integratedTime: Math.floor(p.promotedAt.getTime() / 1000),
        proof: await deps.ledger.inclusionProof(logIndex),
      });
      const bundle = createBundle({
        keyId: deps.signer.keyId,
        content: { kind: 'dsse', envelope: p.envelope },
        tlogEntries: [tlog],
      });
      const referrer = await storeReferrer(deps, p, bundle);
      vsa = { referrer, logIndex, bundle };
      steps.push({ name: 'referrer', ok: true, detail: `VSA referrer ${referrer} of ${p.digest} in ${p.repository}` });
    } catch (err) {
      steps.push({ name: 'referrer', ok: false, detail: `Cannot store the VSA referrer: ${(err as Error).message}` });
      return { steps, vsa: null };
    }
    try {
      await deps.database.db
        .insertInto('release_vsas')
        .values({
          promotion_id: p.promotionId,
          referrer: vsa.referrer,
          log_index: logIndex,
          bundle: JSON.stringify(vsa.bundle),
          recorded_at: deps.clock.now().toISOString(),
        })
        .onConflict((oc) => oc.column('promotion_id').doNothing())
        .execute();
      await deps.database.durable();
      steps.push({ name: 'record', ok: true, detail: 'recorded with the promotion' });
    } catch (err) {
      steps.push({ name: 'record', ok: false, detail: `Cannot record the VSA: ${(err as Error).message}` });
      return { steps, vsa: null };
    }
    return { steps, vsa };
  }

  return function issueVsa(p: PendingVsa) {
    let run = running.get(p.promotionId);
    if (run === undefined) {
      run = issue(p).finally(() => running.delete(p.promotionId));
      running.set(p.promotionId, run);
    }
    return run;
  };
}

// The cosign v3 referrer layout: the empty config and the bundle as blobs, then the manifest naming the image.
async function storeReferrer(deps: VsaIssuerDeps, p: PendingVsa, bundle: SigstoreBundle): Promise<Digest> {
  const artifact = bundleReferrer(
    bundle,
    { mediaType: p.subject.mediaType, digest: p.digest, size: p.subject.size },
    p.promotedAt,
  );
  for (const blob of artifact.blobs) await storeBlob(deps, p.repository, blob.digest, blob.bytes);
  const digest = digestOf(artifact.manifest);
  await deps.metadata.putManifest({
    repo: p.repository,
    digest,
    mediaType: (JSON.parse(artifact.manifest.toString('utf8')) as { mediaType: string }).mediaType,
    content: artifact.manifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    subject: p.digest,
    annotations: artifact.annotations,
    blobs: artifact.blobs.map((b) => b.digest),
    children: [],
    tags: [],
    actor: p.actor,
  });
  return digest;
}

async function storeBlob(deps: VsaIssuerDeps, repository: string, digest: Digest, bytes: Uint8Array): Promise<void> {
  const held = await deps.blobs.stat(digest);
  if (held?.size === bytes.byteLength) return deps.metadata.linkBlob(repository, digest, bytes.byteLength);
  const id = await deps.blobs.uploads.create();
  await deps.blobs.uploads.append(
    id,
    0,
    (async function* () {
      yield bytes;
    })(),
  );
  await deps.blobs.uploads.finish(id, digest, (size) => deps.metadata.linkBlob(repository, digest, size));
}
