import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, parseDigest, verifyDigest } from '../core/index.ts';
import { MEDIA_TYPES } from './media-types.ts';

/** A blob to place in a layout: its bytes are verified against `digest` on the way in. */
export interface LayoutBlob {
  digest: Digest;
  size: number;
  open(): AsyncIterable<Uint8Array>;
}

export interface LayoutImage {
  manifest: { bytes: Uint8Array; mediaType: string; digest: Digest };
  blobs: readonly LayoutBlob[];
  /** `org.opencontainers.image.ref.name` for the index entry, e.g. "1.0.0". */
  refName?: string;
}

/**
 * Writes (or adds to) an OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json` and
 * `blobs/<alg>/<hex>`. An existing entry with the same ref name is replaced; blobs already present are kept.
 */
export async function writeImageLayout(dir: string, image: LayoutImage): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
  const manifestBlob: LayoutBlob = {
    digest: image.manifest.digest,
    size: image.manifest.bytes.byteLength,
    open: () => Readable.from([image.manifest.bytes]),
  };
  for (const blob of [...image.blobs, manifestBlob]) await writeBlob(dir, blob);
  const indexPath = join(dir, 'index.json');
  type Entry = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
  let index: { schemaVersion: 2; mediaType?: string; manifests: Entry[] } = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.imageIndex,
    manifests: [],
  };
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch {}
  const refKey = 'org.opencontainers.image.ref.name';
  const entry: Entry = {
    mediaType: image.manifest.mediaType,
    digest: image.manifest.digest,
    size: image.manifest.bytes.byteLength,
    ...(image.refName === undefined ? {} : { annotations: { [refKey]: image.refName } }),
  };
  const manifests = index.manifests.filter((m) =>
    image.refName === undefined ? m.digest !== entry.digest : m.annotations?.[refKey] !== image.refName,
  );
  manifests.push(entry);
  const tmp = `${indexPath}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ ...index, mediaType: MEDIA_TYPES.imageIndex, manifests }, null, 2)}\n`);
  await rename(tmp, indexPath);
}

async function writeBlob(dir: string, blob: LayoutBlob): Promise<void> {
  const { algorithm, hex } = parseDigest(blob.digest);
  const target = join(dir, 'blobs', algorithm, hex);
  if ((await stat(target).catch(() => null))?.size === blob.size) return;
  await mkdir(join(dir, 'blobs', algorithm), { recursive: true });
  const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await pipeline(Readable.from(verifyDigest(blob.open(), blob.digest, { size: blob.size })), createWriteStream(tmp));
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
