import { readFile, writeFile } from 'node:fs/promises';
import { BaseError, type Digest, isDigest } from '../core/index.ts';
import { formatReference, isIndexMediaType, parseReference, type RegistryClient } from '../oci/index.ts';
import type { BaseImage, LayerDescriptor } from './image-config.ts';

export class BaseImageError extends BaseError<'BASE_UNAVAILABLE' | 'BASE_INVALID' | 'LOCK_INVALID'> {}

/** fixity.lock: the base image pinned to a digest the first time it is resolved. */
export interface BuildLock {
  base?: { ref: string; platform: string; digest: Digest };
}

export async function readLock(path: string): Promise<BuildLock> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const lock = JSON.parse(text) as BuildLock;
    if (lock.base !== undefined && (typeof lock.base.ref !== 'string' || !isDigest(lock.base.digest)))
      throw new Error('bad base');
    return lock;
  } catch (err) {
    throw new BaseImageError(
      'LOCK_INVALID',
      `Cannot read ${path}: not a fixity.lock (delete it and run fixity build --update-base)`,
      { cause: err },
    );
  }
}

export async function writeLock(path: string, lock: BuildLock): Promise<void> {
  await writeFile(path, `${JSON.stringify(lock, null, 2)}\n`);
}

/**
 * Resolves the base image: the digest pinned in the lock unless `update` (or the ref changed), else
 * whatever the tag points at now, which is then pinned. For an index, the manifest for `platform`.
 */
export async function resolveBaseImage(
  client: RegistryClient,
  options: { ref: string; platform: string; lock: BuildLock; update: boolean },
): Promise<{ base: BaseImage; lock: BuildLock; pinned: 'lock' | 'resolved' }> {
  const { ref, platform, lock, update } = options;
  const parsed = parseReference(ref);
  const usePin = !update && lock.base?.ref === ref && lock.base.platform === platform;
  const reference = usePin ? lock.base!.digest : (parsed.digest ?? parsed.tag ?? 'latest');
  let manifest = await client.getManifest(parsed, reference);
  if (manifest === null)
    throw new BaseImageError('BASE_UNAVAILABLE', `Cannot find base image ${ref} (${reference}) in ${parsed.registry}`);
  if (isIndexMediaType(manifest.mediaType)) {
    const [os, arch, variant] = platform.split('/');
    const index = JSON.parse(new TextDecoder().decode(manifest.bytes)) as {
      manifests: Array<{ digest: Digest; platform?: { os?: string; architecture?: string; variant?: string } }>;
    };
    const match = index.manifests.find(
      (m) =>
        m.platform?.os === os &&
        m.platform?.architecture === arch &&
        (variant === undefined || m.platform?.variant === variant),
    );
    if (match === undefined)
      throw new BaseImageError('BASE_INVALID', `Cannot use base image ${ref}: it has no ${platform} manifest`);
    manifest = await client.getManifest(parsed, match.digest);
    if (manifest === null)
      throw new BaseImageError('BASE_UNAVAILABLE', `Cannot fetch the ${platform} manifest of ${ref}`);
  }
  const doc = JSON.parse(new TextDecoder().decode(manifest.bytes)) as {
    config: { digest: Digest; size: number };
    layers: Array<{ mediaType: string; digest: Digest; size: number }>;
  };
  const chunks: Uint8Array[] = [];
  for await (const c of client.getBlob(parsed, doc.config.digest, doc.config.size)) chunks.push(c);
  const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    config?: Record<string, unknown>;
    rootfs?: { diff_ids?: Digest[] };
    history?: unknown[];
  };
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== doc.layers.length) {
    throw new BaseImageError(
      'BASE_INVALID',
      `Cannot use base image ${ref}: its config lists ${diffIds.length} layers, its manifest ${doc.layers.length}`,
    );
  }
  const layers: LayerDescriptor[] = doc.layers.map((l, i) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    diffId: diffIds[i]!,
  }));
  const base: BaseImage = {
    name: formatReference({ ...parsed, digest: null }),
    digest: manifest.digest,
    config: config.config ?? {},
    layers,
    history: config.history ?? [],
  };
  return {
    base,
    lock: { ...lock, base: { ref, platform, digest: manifest.digest } },
    pinned: usePin ? 'lock' : 'resolved',
  };
}
