import type { KeyObject } from 'node:crypto';
import { type Digest, digestOf, parseDigest } from '../core/index.ts';
import type { ImageReference, RegistryClient } from '../oci/index.ts';
import { BUNDLE_MEDIA_TYPE, parseBundle } from './bundle.ts';
import { signatureTag } from './cosign.ts';
import { keyIdOf, verifySignature } from './keys.ts';
import { readLegacySignatures } from './legacy-signatures.ts';
import { type DecodedTlogEntry, decodeTlogEntry } from './tlog-entry.ts';
import { verifyBundle } from './verify-bundle.ts';

/** A key the verifier trusts, with the window in which its signatures count. */
export interface TrustedKey {
  keyId: string;
  publicKey: KeyObject;
  validFrom: Date | null;
  validUntil: Date | null;
  revokedAt: Date | null;
}

/** The ledger port: checks a bundle's tlog entry (inclusion proof, checkpoint and SET signatures). */
export type TlogCheck = (entry: DecodedTlogEntry) => { ok: boolean; detail: string; integratedTime: Date | null };

export interface VerifyImageInput {
  registry: RegistryClient;
  ref: ImageReference;
  digest: Digest;
  manifest: Uint8Array;
  keys: readonly TrustedKey[];
  /** Predicate types that must each have a valid attestation; when empty, a valid signature is required. */
  types: readonly string[];
  /** null: ledger inclusion is not checked (and not required). */
  tlog: TlogCheck | null;
  now: Date;
}

export interface VerificationStep {
  name: 'bundle' | 'signature' | 'subject' | 'key' | 'ledger';
  ok: boolean;
  detail: string;
}

export interface VerifiedItem {
  source: 'bundle' | 'cosign-legacy';
  kind: 'signature' | 'attestation';
  referrer: string;
  keyId: string;
  /** False when no trusted key made it: reported, but neither required nor a failure. */
  trusted: boolean;
  predicateType?: string;
  ok: boolean;
  steps: VerificationStep[];
}

export interface ImageVerification {
  digest: Digest;
  ok: boolean;
  signatures: VerifiedItem[];
  attestations: VerifiedItem[];
  /** What was required and not found valid. */
  missing: string[];
}

/**
 * Checks every signature and attestation of an image: the signature itself, that its subject is this
 * digest, that the key was trusted and valid when the ledger recorded the signature, and the ledger's
 * inclusion proof. Signatures by keys it does not trust are listed, never counted.
 */
export async function verifyImage(input: VerifyImageInput): Promise<ImageVerification> {
  const items = [...(await bundleItems(input)), ...(await legacyItems(input))];
  const signatures = items.filter((i) => i.kind === 'signature');
  const attestations = items.filter((i) => i.kind === 'attestation');
  const missing: string[] = [];
  // Like cosign's verify vs verify-attestation: asked for attestation types, those are what is required.
  if (input.types.length === 0 && !signatures.some((s) => s.trusted && s.ok))
    missing.push('a valid signature by a trusted key');
  for (const type of input.types) {
    if (!attestations.some((a) => a.trusted && a.ok && a.predicateType === type))
      missing.push(`a valid attestation of type ${type}`);
  }
  const broken = items.some((i) => i.trusted && !i.ok);
  return { digest: input.digest, ok: missing.length === 0 && !broken, signatures, attestations, missing };
}

function keyStep(key: TrustedKey, at: Date, when: string): VerificationStep {
  const t = at.toISOString();
  if (key.validFrom !== null && at < key.validFrom)
    return {
      name: 'key',
      ok: false,
      detail: `not yet valid at ${t} (${when}); valid from ${key.validFrom.toISOString()}`,
    };
  if (key.validUntil !== null && at >= key.validUntil)
    return { name: 'key', ok: false, detail: `expired at ${t} (${when}); valid until ${key.validUntil.toISOString()}` };
  if (key.revokedAt !== null && at >= key.revokedAt)
    return { name: 'key', ok: false, detail: `revoked at ${key.revokedAt.toISOString()}, before ${t} (${when})` };
  return { name: 'key', ok: true, detail: `trusted and valid at ${t} (${when})` };
}

// The ledger step (when checked and present) gives the trusted signing time the key step then judges.
function ledgerAndKeySteps(
  input: VerifyImageInput,
  key: TrustedKey,
  entry: (() => DecodedTlogEntry) | undefined,
): VerificationStep[] {
  let signedAt = input.now;
  let when = 'now: no trusted time';
  const steps: VerificationStep[] = [];
  if (input.tlog !== null && entry !== undefined) {
    let checked: ReturnType<TlogCheck>;
    try {
      checked = input.tlog(entry());
    } catch (err) {
      checked = { ok: false, detail: (err as Error).message, integratedTime: null };
    }
    steps.push({ name: 'ledger', ok: checked.ok, detail: checked.detail });
    if (checked.ok && checked.integratedTime !== null) {
      signedAt = checked.integratedTime;
      when = 'when the ledger recorded it';
    }
  }
  steps.push(keyStep(key, signedAt, when));
  return steps;
}

async function bundleItems(input: VerifyImageInput): Promise<VerifiedItem[]> {
  const { registry, ref, digest } = input;
  const referrers = await registry.listReferrers(ref, digest, BUNDLE_MEDIA_TYPE);
  const byId = new Map(input.keys.map((k) => [k.keyId, k]));
  const out: VerifiedItem[] = [];
  for (const r of referrers) {
    const steps: VerificationStep[] = [];
    const item: VerifiedItem = {
      source: 'bundle',
      kind: 'signature',
      referrer: r.digest,
      keyId: '',
      trusted: false,
      ok: false,
      steps,
    };
    out.push(item);
    let bundle: ReturnType<typeof parseBundle>;
    try {
      const manifest = await registry.getManifest(ref, r.digest);
      const layer = (
        JSON.parse(new TextDecoder().decode(manifest?.bytes)) as { layers?: Array<{ digest: Digest; size: number }> }
      ).layers?.[0];
      if (layer === undefined) throw new Error('the referrer has no layer');
      const chunks: Uint8Array[] = [];
      for await (const c of registry.getBlob(ref, layer.digest, layer.size)) chunks.push(c);
      bundle = parseBundle(Buffer.concat(chunks));
      steps.push({ name: 'bundle', ok: true, detail: 'a Sigstore bundle v0.3' });
    } catch (err) {
      steps.push({ name: 'bundle', ok: false, detail: (err as Error).message });
      continue;
    }
    item.keyId = bundle.verificationMaterial.publicKey?.hint ?? '';
    const key = byId.get(item.keyId);
    if (key === undefined) {
      steps.push({ name: 'key', ok: false, detail: `key ${item.keyId.slice(0, 16)}… is not trusted here` });
      continue;
    }
    item.trusted = true;
    let verified: ReturnType<typeof verifyBundle>;
    try {
      verified = verifyBundle(bundle, { artifact: input.manifest, keys: (hint) => byId.get(hint)?.publicKey });
      steps.push({ name: 'signature', ok: true, detail: `${verified.kind} by ${item.keyId.slice(0, 16)}…` });
    } catch (err) {
      steps.push({ name: 'signature', ok: false, detail: (err as Error).message });
      continue;
    }
    if (verified.kind === 'dsse') {
      item.kind = 'attestation';
      item.predicateType = verified.statement.predicateType;
      const { algorithm, hex } = parseDigest(digest);
      const match = verified.statement.subject.some((s) => s.digest[algorithm] === hex);
      steps.push({ name: 'subject', ok: match, detail: match ? `names ${digest}` : `does not name ${digest}` });
    } else {
      const match = verified.messageDigest === digest;
      steps.push({
        name: 'subject',
        ok: match,
        detail: match ? `covers manifest ${digest}` : `covers ${verified.messageDigest}, not ${digest}`,
      });
    }
    const entry = verified.tlogEntries[0];
    if (input.tlog !== null && entry === undefined)
      steps.push({ name: 'ledger', ok: false, detail: 'the bundle carries no ledger entry' });
    steps.push(...ledgerAndKeySteps(input, key, entry === undefined ? undefined : () => entry));
    item.ok = steps.every((s) => s.ok);
  }
  return out;
}

async function legacyItems(input: VerifyImageInput): Promise<VerifiedItem[]> {
  const { registry, ref, digest } = input;
  const tag = signatureTag(digest);
  const manifest = await registry.getManifest(ref, tag);
  if (manifest === null) return [];
  const out: VerifiedItem[] = [];
  for (const layer of await readLegacySignatures(manifest.bytes, registry, ref)) {
    const steps: VerificationStep[] = [];
    const key = input.keys.find((k) => verifySignature(k.publicKey, layer.payload, layer.signature));
    const item: VerifiedItem = {
      source: 'cosign-legacy',
      kind: 'signature',
      referrer: `${tag}:${digestOf(layer.payload)}`,
      keyId: key === undefined ? '' : keyIdOf(key.publicKey),
      trusted: key !== undefined,
      ok: false,
      steps,
    };
    out.push(item);
    if (key === undefined) {
      steps.push({ name: 'signature', ok: false, detail: 'no trusted key made this signature' });
      continue;
    }
    steps.push({ name: 'signature', ok: true, detail: `simple signing by ${item.keyId.slice(0, 16)}…` });
    let named: string | undefined;
    try {
      named = (
        JSON.parse(Buffer.from(layer.payload).toString('utf8')) as {
          critical?: { image?: { 'docker-manifest-digest'?: string } };
        }
      ).critical?.image?.['docker-manifest-digest'];
    } catch {}
    steps.push({
      name: 'subject',
      ok: named === digest,
      detail: named === digest ? `names ${digest}` : `names ${named ?? 'nothing'}, not ${digest}`,
    });
    const raw = layer.tlogEntry;
    steps.push(...ledgerAndKeySteps(input, key, raw === undefined ? undefined : () => decodeTlogEntry(raw)));
    item.ok = steps.every((s) => s.ok);
  }
  return out;
}
