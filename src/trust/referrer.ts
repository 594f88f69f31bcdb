import { type Digest, digestOf, parseDigest } from '../core/index.ts';
import { EMPTY_DESCRIPTOR, MEDIA_TYPES } from '../oci/index.ts';
import { BUNDLE_MEDIA_TYPE, parseBundle, type SigstoreBundle } from './bundle.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './statement.ts';

export const BUNDLE_ANNOTATIONS = {
  content: 'dev.sigstore.bundle.content',
  predicateType: 'dev.sigstore.bundle.predicateType',
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
} as const;

/** The subject a referrer points at: the signed image's manifest. */
export interface SubjectDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
}

/** A referrer manifest with every blob it needs and what the referrers index will show of it. */
export interface BundleReferrer {
  manifest: Buffer;
  artifactType: typeof BUNDLE_MEDIA_TYPE;
  annotations: Record<string, string>;
  /** The empty config, then the bundle: push both before the manifest. */
  blobs: Array<{ digest: Digest; bytes: Buffer }>;
}

/**
 * The cosign v3 layout (cosign specs/BUNDLE_SPEC.md): an OCI 1.1 manifest whose artifactType is the bundle
 * media type, the empty config, the bundle as its only layer, the image as subject. `predicateType` defaults
 * to the one the (unverified) statement names: annotations are hints for listing, never trusted.
 */
export function referrerManifest(
  bundleBytes: Uint8Array,
  subject: SubjectDescriptor,
  options: { predicateType?: string; created: Date },
): BundleReferrer {
  const bundle = parseBundle(bundleBytes);
  const bytes = Buffer.from(bundleBytes);
  const digest = digestOf(bytes);
  const predicateType = options.predicateType ?? statedPredicateType(bundle);
  const annotations: Record<string, string> = {
    [BUNDLE_ANNOTATIONS.content]: bundle.dsseEnvelope === undefined ? 'message-signature' : 'dsse-envelope',
    ...(predicateType === undefined ? {} : { [BUNDLE_ANNOTATIONS.predicateType]: predicateType }),
    [BUNDLE_ANNOTATIONS.created]: options.created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const { algorithm, hex } = parseDigest(digest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.imageManifest,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: EMPTY_DESCRIPTOR.size },
      layers: [
        {
          mediaType: BUNDLE_MEDIA_TYPE,
          digest,
          size: bytes.byteLength,
          annotations: { [BUNDLE_ANNOTATIONS.title]: `${algorithm}-${hex}.sigstore.json` },
        },
      ],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
  return {
    manifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    annotations,
    blobs: [
      { digest: EMPTY_DESCRIPTOR.digest, bytes: Buffer.from('{}') },
      { digest, bytes },
    ],
  };
}

/** The referrer for a bundle object, serialised as JSON. */
export function bundleReferrer(bundle: SigstoreBundle, subject: SubjectDescriptor, created: Date): BundleReferrer {
  return referrerManifest(Buffer.from(JSON.stringify(bundle)), subject, { created });
}

function statedPredicateType(bundle: SigstoreBundle): string | undefined {
  const envelope = bundle.dsseEnvelope;
  if (envelope?.payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  try {
    const type = (JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType?: unknown })
      .predicateType;
    return typeof type === 'string' ? type : undefined;
  } catch {
    return undefined;
  }
}
