import { canonicalBytes, type Digest, digestOf } from '../core/index.ts';
import { EMPTY_DESCRIPTOR, type LayoutBlob, MEDIA_TYPES } from '../oci/index.ts';
import type { EvidenceBlob } from './evidence-cache.ts';
import { toDSSEEnvelope } from './provenance.ts';

// The build's evidence as OCI referrers of the image: each attestation (an unsigned DSSE envelope, or a
// signed envelope or bundle from the attestor) is the single layer of an artifact manifest whose subject
// is the image.

const ATTESTATION_ARTIFACT = 'application/vnd.in-toto+json';
const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

export interface SignedEvidence {
  bytes: Uint8Array;
  mediaType: string;
  artifactType: string;
  annotations: Record<string, string>;
}

const emptyBytes = new TextEncoder().encode('{}');
export const emptyBlob: LayoutBlob = {
  digest: EMPTY_DESCRIPTOR.digest as Digest,
  size: 2,
  open: () =>
    (async function* () {
      yield emptyBytes;
    })(),
};

/** A referrer's single layer: the blob, its media type, and how the referrer is labelled. */
interface Evidence {
  layer: LayoutBlob;
  mediaType: string;
  artifactType: string;
  annotations: Record<string, string>;
}

// An unsigned attestation: a DSSE envelope of the statement's canonical JSON.
export function unsignedEvidence(statement: object, predicateType: string): Evidence {
  return blobEvidence({
    bytes: canonicalBytes(toDSSEEnvelope(statement)),
    mediaType: DSSE_MEDIA_TYPE,
    artifactType: ATTESTATION_ARTIFACT,
    annotations: { 'in-toto.io/predicate-type': predicateType },
  });
}

// An unsigned attestation whose DSSE envelope was written to a file, read through its open handle (the file
// may be pruned from the cache meanwhile).
export function fileEvidence(blob: EvidenceBlob, predicateType: string): Evidence {
  return {
    layer: {
      digest: blob.digest,
      size: blob.size,
      open: () => blob.file.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 }),
    },
    mediaType: DSSE_MEDIA_TYPE,
    artifactType: ATTESTATION_ARTIFACT,
    annotations: { 'in-toto.io/predicate-type': predicateType },
  };
}

export function blobEvidence({ bytes, ...labels }: SignedEvidence): Evidence {
  return {
    ...labels,
    layer: {
      digest: digestOf(bytes),
      size: bytes.byteLength,
      open: () =>
        (async function* () {
          yield bytes;
        })(),
    },
  };
}

// An attestation as an OCI artifact manifest whose subject is the image: one layer, the envelope or bundle.
export function referrerArtifact(evidence: Evidence, subject: { digest: Digest; size: number }, epoch: number) {
  const { layer } = evidence;
  const annotations = {
    ...evidence.annotations,
    'org.opencontainers.image.created': new Date(epoch * 1000).toISOString().replace('.000Z', 'Z'),
  };
  const manifest = canonicalBytes({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.imageManifest,
    artifactType: evidence.artifactType,
    config: { mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: 2 },
    layers: [{ mediaType: evidence.mediaType, digest: layer.digest, size: layer.size }],
    subject: { mediaType: MEDIA_TYPES.imageManifest, ...subject },
    annotations,
  });
  return { digest: digestOf(manifest), manifest, annotations, artifactType: evidence.artifactType, layer };
}
