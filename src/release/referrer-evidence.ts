import type { KeyObject } from 'node:crypto';
import type { Digest, Signer } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { BlobStore, RegistryMetadata } from '../store/index.ts';
import {
  BUNDLE_MEDIA_TYPE,
  type KeyRecord,
  loadPublicKey,
  parseBundle,
  type Statement,
  statementNames,
  type TrustStore,
  verifyBundle,
} from '../trust/index.ts';

/** A referrer bundle that verified: what it says, who signed it (with the roles valid then), where it is logged. */
export type EvidenceSource = {
  readonly referrer: Digest;
  readonly keyId: string;
  /** The signer's trust-store roles valid when the ledger recorded it (`verifier`: this server's VSAs). */
  readonly roles: readonly string[];
  readonly logIndex: number;
  readonly loggedAt: Date;
} & (
  | { readonly kind: 'signature' }
  | { readonly kind: 'attestation'; readonly predicateType: string; readonly statement: Statement }
);

export interface BundleDeps {
  metadata: RegistryMetadata;
  blobs: BlobStore;
  ledger: Ledger;
  trust: TrustStore;
  /** The server's key: bundles it signed (promotion VSAs) are trusted as the `verifier`. */
  signer: Signer;
}

const MAX_BYTES = 4 * 1024 * 1024;
const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

/** Reads a blob of at most `max` bytes; null when it is missing or larger. */
export async function readBlob(blobs: BlobStore, digest: Digest, max = MAX_BYTES): Promise<Buffer | null> {
  const st = await blobs.stat(digest);
  if (st === null || st.size > max) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of blobs.read(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Checks one Sigstore-bundle referrer of `subject`: the signature with a trust-store key, the subject, that its
 * tlog entry is byte for byte the leaf at that index of this ledger, and that the key held a role, unrevoked,
 * when the ledger recorded it. Returns the source, or why it does not count.
 */
export async function checkReferrer(
  deps: BundleDeps,
  repository: string,
  subject: { digest: Digest; manifest: Uint8Array },
  referrer: Digest,
): Promise<EvidenceSource | string> {
  const record = await deps.metadata.getManifest(repository, { digest: referrer });
  const layer = record === null ? undefined : bundleLayer(record.content);
  if (layer === undefined) return 'not a Sigstore bundle referrer';
  const bytes = await readBlob(deps.blobs, layer);
  if (bytes === null) return `its bundle blob ${layer} is missing or too large`;
  try {
    const bundle = parseBundle(bytes);
    const keyId = bundle.verificationMaterial.publicKey.hint;
    const own = keyId === deps.signer.keyId;
    const keys = own ? [] : await deps.trust.get(keyId);
    if (!own && keys.length === 0) return `key ${short(keyId)} is not in the trust store`;
    const publicKey: KeyObject = own ? deps.signer.publicKey : loadPublicKey(keys[0]!.publicKeyPem);
    const verified = verifyBundle(bundle, {
      artifact: subject.manifest,
      keys: (hint) => (hint === keyId ? publicKey : undefined),
    });
    const named =
      verified.kind === 'dsse'
        ? statementNames(verified.statement, subject.digest)
        : verified.messageDigest === subject.digest;
    if (!named) return `it is not about ${subject.digest}`;
    const entry = verified.tlogEntries[0];
    if (entry === undefined) return 'it carries no ledger entry';
    const leaf = await deps.ledger.entry(entry.logIndex);
    if (leaf === null || !leaf.body.equals(entry.canonicalizedBody))
      return `its tlog entry is not entry ${entry.logIndex} of this ledger`;
    const loggedAt = new Date((JSON.parse(leaf.body.toString('utf8')) as { time?: string }).time ?? Number.NaN);
    if (Number.isNaN(loggedAt.getTime())) return `ledger entry ${entry.logIndex} has no time`;
    const roles = own ? ['verifier'] : keys.filter((k) => validAt(k, loggedAt)).map((k) => k.role);
    if (roles.length === 0)
      return `key ${short(keyId)} held no valid role when the ledger recorded it (${loggedAt.toISOString()})`;
    const base = { referrer, keyId, roles, logIndex: entry.logIndex, loggedAt };
    return verified.kind === 'dsse'
      ? {
          ...base,
          kind: 'attestation',
          predicateType: verified.statement.predicateType,
          statement: verified.statement,
        }
      : { ...base, kind: 'signature' };
  } catch (err) {
    return (err as Error).message;
  }
}

function bundleLayer(content: Uint8Array): Digest | undefined {
  try {
    const manifest = JSON.parse(Buffer.from(content).toString('utf8')) as {
      layers?: Array<{ mediaType?: string; digest?: Digest }>;
    };
    const layer = manifest.layers?.[0];
    return layer?.mediaType === BUNDLE_MEDIA_TYPE ? layer.digest : undefined;
  } catch {
    return undefined;
  }
}

// The trust store's validAt, on records already read: inside the window and not revoked by then.
function validAt(key: KeyRecord, at: Date): boolean {
  const t = at.getTime();
  if (t < Date.parse(key.validFrom)) return false;
  if (key.validUntil !== null && t >= Date.parse(key.validUntil)) return false;
  return key.revokedAt === null || t < Date.parse(key.revokedAt);
}
