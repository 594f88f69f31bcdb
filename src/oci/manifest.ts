import { type Digest, digestOf, isDigest } from '../core/index.ts';
import { isIndexMediaType, isManifestMediaType, type ManifestMediaType } from './media-types.ts';
import { OCIError } from './oci-error.ts';

/** A content descriptor (image-spec descriptor.md), checked. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Record<string, unknown>;
}

/** What a registry needs to know about a manifest it is asked to store. */
export interface ParsedManifest {
  mediaType: ManifestMediaType;
  /** Blobs that must exist first: config and layers, minus foreign layers (`urls`) and inline `data`. */
  blobs: Digest[];
  /** Manifests an index points at; they must exist first. */
  children: Digest[];
  subject: Descriptor | null;
  /** `artifactType`, else `config.mediaType` (image manifests only). */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

const MAX_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * Parses manifest bytes pushed with `contentType`. Untrusted input: every field that is used is checked,
 * unknown fields are kept (the stored bytes are never re-serialized).
 */
export function parseManifest(bytes: Uint8Array, contentType: string): ParsedManifest {
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  if (!isManifestMediaType(mediaType)) {
    throw new OCIError(
      'MANIFEST_INVALID',
      `Cannot accept manifest of media type "${mediaType.slice(0, 100)}": use an OCI or Docker schema 2 manifest or index`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new OCIError('MANIFEST_INVALID', `Cannot parse manifest: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(doc)) throw new OCIError('MANIFEST_INVALID', 'Cannot parse manifest: not a JSON object');
  if (doc.schemaVersion !== 2)
    throw new OCIError('MANIFEST_INVALID', 'Cannot accept manifest: schemaVersion must be 2');
  if (doc.mediaType !== undefined && doc.mediaType !== mediaType) {
    throw new OCIError(
      'MANIFEST_INVALID',
      `Cannot accept manifest: its mediaType "${String(doc.mediaType)}" differs from Content-Type "${mediaType}"`,
    );
  }
  if (doc.mediaType === undefined && mediaType.includes('docker')) {
    throw new OCIError('MANIFEST_INVALID', 'Cannot accept Docker manifest: the mediaType field is required');
  }
  const subject = doc.subject === undefined ? null : toDescriptor(doc.subject, 'subject');
  const annotations = doc.annotations === undefined ? null : toAnnotations(doc.annotations, 'annotations');
  const artifactType = doc.artifactType === undefined ? null : toMediaType(doc.artifactType, 'artifactType');

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests))
      throw new OCIError('MANIFEST_INVALID', 'Cannot accept index: manifests must be an array');
    const children = doc.manifests.map((m, i) => toDescriptor(m, `manifests[${i}]`).digest);
    return { mediaType, blobs: [], children, subject, artifactType, annotations };
  }
  const config = toDescriptor(doc.config, 'config');
  if (!Array.isArray(doc.layers))
    throw new OCIError('MANIFEST_INVALID', 'Cannot accept manifest: layers must be an array');
  const layers = doc.layers.map((l, i) => toDescriptor(l, `layers[${i}]`));
  if (config.mediaType === 'application/vnd.oci.empty.v1+json' && artifactType === null && mediaType.includes('oci')) {
    throw new OCIError(
      'MANIFEST_INVALID',
      'Cannot accept manifest: artifactType is required when config is the empty descriptor',
    );
  }
  const blobs = [config, ...layers].filter((d) => d.data === undefined && d.urls === undefined).map((d) => d.digest);
  return { mediaType, blobs, children: [], subject, artifactType: artifactType ?? config.mediaType, annotations };
}

/** Checks a descriptor's required fields and, when it carries `data`, that the data matches. */
export function toDescriptor(value: unknown, path: string): Descriptor {
  if (!isObject(value))
    throw new OCIError('MANIFEST_INVALID', `Cannot accept manifest: ${path} must be a descriptor object`);
  const mediaType = toMediaType(value.mediaType, `${path}.mediaType`);
  if (!isDigest(value.digest)) {
    throw new OCIError(
      'DIGEST_INVALID',
      `Cannot accept manifest: ${path}.digest "${String(value.digest).slice(0, 100)}" is not a valid digest`,
    );
  }
  const size = value.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > MAX_SIZE) {
    throw new OCIError('MANIFEST_INVALID', `Cannot accept manifest: ${path}.size must be a non-negative integer`);
  }
  const descriptor: Descriptor = { mediaType, digest: value.digest, size };
  if (value.data !== undefined) {
    if (typeof value.data !== 'string')
      throw new OCIError('MANIFEST_INVALID', `Cannot accept manifest: ${path}.data must be base64`);
    const bytes = Buffer.from(value.data, 'base64');
    if (
      bytes.byteLength !== size ||
      digestOf(bytes, value.digest.startsWith('sha512') ? 'sha512' : 'sha256') !== value.digest
    ) {
      throw new OCIError('DIGEST_INVALID', `Cannot accept manifest: ${path}.data does not match its digest and size`);
    }
    descriptor.data = value.data;
  }
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) {
      throw new OCIError('MANIFEST_INVALID', `Cannot accept manifest: ${path}.urls must be an array of strings`);
    }
    descriptor.urls = value.urls as string[];
  }
  if (value.annotations !== undefined) descriptor.annotations = toAnnotations(value.annotations, `${path}.annotations`);
  if (value.artifactType !== undefined)
    descriptor.artifactType = toMediaType(value.artifactType, `${path}.artifactType`);
  if (isObject(value.platform)) descriptor.platform = value.platform;
  return descriptor;
}

// RFC 6838 type/subtype, as image-spec's JSON schema checks it.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function toMediaType(value: unknown, path: string): string {
  if (typeof value !== 'string' || !MEDIA_TYPE.test(value)) {
    throw new OCIError(
      'MANIFEST_INVALID',
      `Cannot accept manifest: ${path} must be a media type such as "type/subtype"`,
    );
  }
  return value;
}

function toAnnotations(value: unknown, path: string): Record<string, string> {
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new OCIError('MANIFEST_INVALID', `Cannot accept manifest: ${path} must map strings to strings`);
  }
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
