import { canonicalBytes, type Digest, digestOf, type Signer } from '../core/index.ts';
import { type ImageReference, MEDIA_TYPES, type RegistryClient } from '../oci/index.ts';
import { BUNDLE_MEDIA_TYPE, createBundle, type SigstoreBundle } from './bundle.ts';
import { legacySignatureImage, signatureTag, simpleSigningPayload } from './cosign.ts';
import { signEnvelope } from './dsse.ts';
import { readLegacySignatures } from './legacy-signatures.ts';
import { bundleReferrer } from './referrer.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './statement.ts';

/** What the ledger answered for one submitted signature: a bundle `tlogEntries` item (protobuf-JSON). */
export interface RecordedSignature {
  tlogEntry: Record<string, unknown>;
}

/** One signature to record, as the server's /api/v1/signatures takes it. */
export type SignatureSubmission =
  | {
      kind: 'hashedrekord';
      /** Base64 of the signed bytes. */
      message: string;
      signature: string;
      publicKey: string;
      format: 'sigstore-bundle' | 'cosign-legacy';
      subject: string;
    }
  | {
      kind: 'dsse';
      envelope: {
        payload: string;
        payloadType: string;
        signatures: Array<{ keyid?: string | undefined; sig: string }>;
      };
      publicKey: string;
    };

/** The ledger port: records signatures and returns their tlog entries, in order. */
export type RecordSignatures = (repository: string, entries: SignatureSubmission[]) => Promise<RecordedSignature[]>;

export interface SignImageInput {
  registry: RegistryClient;
  /** The image, already resolved: everything past this point uses `digest`. */
  ref: ImageReference;
  digest: Digest;
  manifest: { bytes: Uint8Array; mediaType: string };
  signer: Signer;
  /** Absent: sign without a transparency log (bundles carry no tlog entry). */
  record?: RecordSignatures;
  created: Date;
}

export interface SignImageResult {
  digest: Digest;
  legacyTag: string;
  legacyManifest: Digest;
  bundleReferrer: Digest;
  bundle: SigstoreBundle;
  logIndices: number[];
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const pemOf = (signer: Signer) => signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();

/**
 * Signs an image in both cosign formats: the legacy `sha256-<hex>.sig` tag (a simple-signing payload
 * layer; appended to what is there, as cosign does) and a Sigstore bundle v0.3 referrer whose message
 * signature covers the manifest bytes. Both are recorded in the ledger first, so each carries its proof.
 */
export async function signImage(input: SignImageInput): Promise<SignImageResult> {
  const { registry, ref, digest, signer } = input;
  const payload = simpleSigningPayload(`${ref.registry}/${ref.repository}`, digest);
  const legacySig = await signer.sign(payload);
  const bundleSig = await signer.sign(input.manifest.bytes);
  const publicKey = pemOf(signer);
  const recorded =
    input.record === undefined
      ? []
      : await input.record(ref.repository, [
          {
            kind: 'hashedrekord',
            message: b64(input.manifest.bytes),
            signature: b64(bundleSig),
            publicKey,
            format: 'sigstore-bundle',
            subject: digest,
          },
          {
            kind: 'hashedrekord',
            message: b64(payload),
            signature: b64(legacySig),
            publicKey,
            format: 'cosign-legacy',
            subject: digest,
          },
        ]);
  const bundle = createBundle({
    keyId: signer.keyId,
    content: { kind: 'message-signature', digest: digestOf(input.manifest.bytes), signature: bundleSig },
    tlogEntries: recorded.slice(0, 1).map((r) => r.tlogEntry),
  });
  const legacy = await pushLegacySignature(registry, ref, digest, {
    payload,
    signature: legacySig,
    ...(recorded[1] === undefined ? {} : { tlogEntry: recorded[1].tlogEntry }),
  });
  const referrer = await pushBundle(registry, ref, {
    bundle,
    subject: { digest, size: input.manifest.bytes.byteLength, mediaType: input.manifest.mediaType },
    created: input.created,
  });
  return {
    digest,
    legacyTag: signatureTag(digest),
    legacyManifest: legacy,
    bundleReferrer: referrer,
    bundle,
    logIndices: recorded.map((r) => Number(r.tlogEntry.logIndex)),
  };
}

async function pushBlobs(
  registry: RegistryClient,
  ref: ImageReference,
  blobs: ReadonlyArray<{ digest: Digest; bytes: Uint8Array }>,
): Promise<void> {
  for (const blob of blobs) {
    await registry.pushBlob(ref, {
      digest: blob.digest,
      size: blob.bytes.byteLength,
      open: async function* () {
        yield blob.bytes;
      },
    });
  }
}

/** Attaches a bundle to its subject as an OCI referrer (the referrers tag schema where there is no API). */
export async function pushBundle(
  registry: RegistryClient,
  ref: ImageReference,
  input: { bundle: SigstoreBundle; subject: { digest: Digest; size: number; mediaType: string }; created: Date },
): Promise<Digest> {
  const artifact = bundleReferrer(input.bundle, input.subject, input.created);
  await pushBlobs(registry, ref, artifact.blobs);
  await registry.pushReferrer(ref, artifact.manifest, MEDIA_TYPES.imageManifest, input.subject.digest, {
    artifactType: artifact.artifactType,
    annotations: artifact.annotations,
  });
  return digestOf(artifact.manifest);
}

// cosign appends to an existing `.sig` manifest rather than replacing other signers' layers.
async function pushLegacySignature(
  registry: RegistryClient,
  ref: ImageReference,
  digest: Digest,
  layer: { payload: Uint8Array; signature: Uint8Array; tlogEntry?: Record<string, unknown> },
): Promise<Digest> {
  const tag = signatureTag(digest);
  const current = await registry.getManifest(ref, tag);
  const existing = current === null ? [] : await readLegacySignatures(current.bytes, registry, ref);
  const image = legacySignatureImage([...existing, layer]);
  await pushBlobs(registry, ref, image.blobs);
  return (await registry.pushManifest(ref, tag, image.manifest, MEDIA_TYPES.imageManifest)).digest;
}

/** Signs an in-toto Statement in a DSSE envelope and records it: the bundle an attestation referrer carries. */
export async function createAttestationBundle(input: {
  statement: Uint8Array;
  signer: Signer;
  repository: string;
  record?: RecordSignatures;
}): Promise<SigstoreBundle> {
  const envelope = await signEnvelope(input.signer, IN_TOTO_PAYLOAD_TYPE, input.statement);
  const recorded =
    input.record === undefined
      ? []
      : await input.record(input.repository, [{ kind: 'dsse', envelope, publicKey: pemOf(input.signer) }]);
  return createBundle({
    keyId: input.signer.keyId,
    content: { kind: 'dsse', envelope },
    tlogEntries: recorded.map((r) => r.tlogEntry),
  });
}

/** Signs a statement about an image and attaches the bundle as a referrer. */
export async function attestImage(input: {
  registry: RegistryClient;
  ref: ImageReference;
  subject: { digest: Digest; size: number; mediaType: string };
  statement: Uint8Array;
  signer: Signer;
  record?: RecordSignatures;
  created: Date;
}): Promise<{ bundle: SigstoreBundle; referrer: Digest; logIndex: number | null }> {
  const bundle = await createAttestationBundle({
    statement: input.statement,
    signer: input.signer,
    repository: input.ref.repository,
    ...(input.record === undefined ? {} : { record: input.record }),
  });
  const referrer = await pushBundle(input.registry, input.ref, {
    bundle,
    subject: input.subject,
    created: input.created,
  });
  const index = bundle.verificationMaterial.tlogEntries[0]?.logIndex;
  return { bundle, referrer, logIndex: index === undefined ? null : Number(index) };
}

/**
 * The build's attestor (structurally `Attestor` from the build room): each statement becomes a signed,
 * ledger-recorded Sigstore bundle instead of an unsigned envelope.
 */
export function evidenceAttestor(options: { signer: Signer; record?: RecordSignatures; repository: string | null }) {
  return async (input: { statement: object; predicateType: string }) => {
    const bundle = await createAttestationBundle({
      statement: canonicalBytes(input.statement),
      signer: options.signer,
      repository: options.repository ?? '',
      ...(options.record === undefined || options.repository === null ? {} : { record: options.record }),
    });
    return {
      bytes: new TextEncoder().encode(JSON.stringify(bundle)),
      mediaType: BUNDLE_MEDIA_TYPE,
      artifactType: BUNDLE_MEDIA_TYPE,
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': input.predicateType,
      },
    };
  };
}
