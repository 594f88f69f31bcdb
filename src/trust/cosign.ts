import { type Digest, digestOf, parseDigest } from '../core/index.ts';
import { MEDIA_TYPES } from '../oci/index.ts';
import type { Envelope } from './dsse.ts';
import { parseTlogEntry, type TlogEntryJSON } from './tlog-entry.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** cosign's offline "Rekor bundle": the SET and the payload it signs (cosign verifies it with the log key). */
export const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
/** Fixity's addition: the whole tlog entry with its inclusion proof (protobuf-JSON); cosign ignores it. */
export const TLOG_ENTRY_ANNOTATION = 'dev.fixity.ledger/tlog-entry';
const PREDICATE_TYPE_ANNOTATION = 'predicateType';

// Go's json.Marshal escapes these for HTML safety; matching it keeps our bytes identical to cosign's.
const goJSON = (value: unknown): Buffer =>
  Buffer.from(
    JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
// Go marshals map keys in sorted order.
const sorted = (map: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The cosign simple-signing payload, byte for byte as cosign writes it (`optional` is null when empty). */
export function simpleSigningPayload(
  dockerReference: string,
  manifestDigest: Digest,
  optional?: Record<string, string>,
): Buffer {
  parseDigest(manifestDigest);
  return goJSON({
    critical: {
      identity: { 'docker-reference': dockerReference },
      image: { 'docker-manifest-digest': manifestDigest },
      type: 'cosign container image signature',
    },
    optional: optional === undefined || Object.keys(optional).length === 0 ? null : sorted(optional),
  });
}

/** The legacy tag cosign stores signatures (`sig`), attestations (`att`) or SBOMs under: `sha256-<hex>.sig`. */
export function signatureTag(digest: Digest, suffix: 'sig' | 'att' | 'sbom' = 'sig'): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}.${suffix}`;
}

export interface SignatureLayerInput {
  payload: Uint8Array;
  signature: Uint8Array;
  annotations?: Record<string, string>;
  /** The ledger's tlog entry for this signature (protobuf-JSON, checked here): written as annotations. */
  tlogEntry?: unknown;
}

export interface AttestationLayerInput {
  envelope: Envelope;
  predicateType: string;
  annotations?: Record<string, string>;
}

/** One layer of a legacy signature image, with the blob to push. */
export interface LegacyLayer {
  mediaType: string;
  digest: Digest;
  size: number;
  bytes: Buffer;
  annotations: Record<string, string>;
}

/** A legacy signature image: the dummy config, its manifest and the layers, all as bytes to push. */
export interface LegacyImage {
  config: Buffer;
  configDigest: Digest;
  manifest: Buffer;
  layers: LegacyLayer[];
  /** Config then layers: every blob to push before the manifest. */
  blobs: Array<{ digest: Digest; bytes: Buffer }>;
}

/** The `.sig` image: one simple-signing layer per signature, signature in the layer annotation. */
export function legacySignatureImage(input: SignatureLayerInput | readonly SignatureLayerInput[]): LegacyImage {
  const list: readonly SignatureLayerInput[] = Array.isArray(input) ? input : [input as SignatureLayerInput];
  return legacyImage(
    list.map((l) => ({
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      bytes: Buffer.from(l.payload),
      annotations: {
        ...l.annotations,
        ...(l.tlogEntry === undefined ? {} : tlogAnnotations(parseTlogEntry(l.tlogEntry))),
        [SIGNATURE_ANNOTATION]: Buffer.from(l.signature).toString('base64'),
      },
    })),
  );
}

/** The `.att` image: one DSSE envelope per layer; the signature lives inside it, so the annotation is empty. */
export function legacyAttestationImage(input: AttestationLayerInput | readonly AttestationLayerInput[]): LegacyImage {
  const list: readonly AttestationLayerInput[] = Array.isArray(input) ? input : [input as AttestationLayerInput];
  return legacyImage(
    list.map((l) => ({
      mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
      // dsse.Envelope's Go field order, as cosign marshals it.
      bytes: goJSON({
        payloadType: l.envelope.payloadType,
        payload: l.envelope.payload,
        signatures: l.envelope.signatures.map((s) => ({ keyid: s.keyid ?? '', sig: s.sig })),
      }),
      annotations: { ...l.annotations, [PREDICATE_TYPE_ANNOTATION]: l.predicateType, [SIGNATURE_ANNOTATION]: '' },
    })),
  );
}

function legacyImage(
  layers: Array<{ mediaType: string; bytes: Buffer; annotations: Record<string, string> }>,
): LegacyImage {
  const full = layers.map((l) => ({
    ...l,
    digest: digestOf(l.bytes),
    size: l.bytes.byteLength,
    annotations: sorted(l.annotations),
  }));
  const epoch = '0001-01-01T00:00:00Z';
  const config = goJSON({
    architecture: '',
    created: epoch,
    history: full.map(() => ({ created: epoch })),
    os: '',
    rootfs: { type: 'layers', diff_ids: full.map((l) => l.digest) },
    config: {},
  });
  const configDigest = digestOf(config);
  const manifest = goJSON({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.imageManifest,
    config: { mediaType: MEDIA_TYPES.imageConfig, size: config.byteLength, digest: configDigest },
    layers: full.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest, annotations: l.annotations })),
  });
  const blobs = [{ digest: configDigest, bytes: config }, ...full.map((l) => ({ digest: l.digest, bytes: l.bytes }))];
  return { config, configDigest, manifest, layers: full, blobs };
}

// The full entry for Fixity's verifier, and cosign's own offline bundle (SET + what it signs) when there is a SET.
function tlogAnnotations(entry: TlogEntryJSON): Record<string, string> {
  const annotations: Record<string, string> = { [TLOG_ENTRY_ANNOTATION]: JSON.stringify(entry) };
  if (entry.inclusionPromise !== undefined) {
    annotations[REKOR_BUNDLE_ANNOTATION] = goJSON({
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
      },
    }).toString();
  }
  return annotations;
}
