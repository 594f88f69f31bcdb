/**
 * The layer step of a build: each layer taken from the layer cache when its key is there, else packed and
 * compressed into it (all layers at once). A layer whose files are still pending (collect-sources.ts) has no
 * key until packing has hashed them, so it is packed without a lookup, and its key is known afterwards.
 * Ends with the sources' finish(): what packing hashed is remembered and scanned, and SECRET_FOUND stops the
 * build here, after the layers packed by this build are taken out of the cache again.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { type Digest, isErrorWithCode } from '../core/index.ts';
import type { BuildEvent } from './build.ts';
import { discardCacheEntry } from './cache-entry.ts';
import { collectGarbage } from './collect-garbage.ts';
import { type CollectedSources, type CollectSourcesOptions, collectSources } from './collect-sources.ts';
import type { LayerDescriptor } from './image-config.ts';
import { imageFiles, treeDigest } from './image-files.ts';
import type { LayerCache } from './layer-cache.ts';
import { writeLayer } from './layer-tar.ts';
import { findPackages } from './lockfiles.ts';
import type { SBOMInput } from './sbom.ts';
import { type FileEntry, sourcePath } from './source-tree.ts';

/** A layer of the image as built: its descriptor, its blob open, its cache key, whether the cache had it. */
export interface BuiltLayer extends LayerDescriptor {
  file: FileHandle;
  uncompressedSize: number;
  cached: boolean;
  key: string;
}

export interface BuildLayersOptions {
  sources: CollectedSources;
  cache: LayerCache;
  /** Whether a layer found in the cache is taken from it (false with --no-cache). */
  useCache: boolean;
  mtime: number;
  compression: 'gzip' | 'zstd';
  /** Set only when not the compression's default: then it is part of each layer's key. */
  compressionLevel?: number | undefined;
  toolVersion: string;
  signal?: AbortSignal | undefined;
  onEvent?: ((event: BuildEvent) => void) | undefined;
  /** Blobs opened here are added, failure or not, for the caller to close. */
  opened: FileHandle[];
}

/** The layers of `options.sources`, in order; see the top of this file. */
export async function buildLayers(options: BuildLayersOptions): Promise<BuiltLayer[]> {
  const { sources, cache, useCache, mtime, compression, compressionLevel, toolVersion, signal, onEvent } = options;
  const level = compressionLevel === undefined ? {} : { compressionLevel };
  let packed = 0; // layers packed, not found in the cache: only then is there garbage worth a collection
  const keyOf = (entries: FileEntry[]) =>
    cache.key({
      entries: entries as unknown as Array<Record<string, unknown>>,
      mtime,
      compression,
      toolVersion,
      ...level,
    });
  const done = (
    index: number,
    entries: FileEntry[],
    layer: { uncompressedSize: number; size: number },
    cached: boolean,
  ) =>
    onEvent?.({
      kind: 'layer',
      index,
      files: entries.length,
      bytesIn: layer.uncompressedSize,
      bytesOut: layer.size,
      cached,
      done: true,
    });
  const settled = await Promise.allSettled(
    sources.layers.map(async (entries, index): Promise<BuiltLayer> => {
      const pending = sources.pending[index]!;
      const key = pending.files.size === 0 ? keyOf(entries) : null;
      const hit = key === null || !useCache ? null : await cache.get(key);
      if (hit !== null) {
        done(index, entries, hit, true);
        return { ...hit, cached: true, key: key! };
      }
      let madeKey = key;
      const made = await cache.put(
        () => (madeKey ??= keyOf(entries)),
        async (out) => {
          if (packed++ === 0) collectGarbage();
          const r = await writeLayer(entries, {
            mtime,
            compression,
            ...(compressionLevel === undefined ? {} : { level: compressionLevel }),
            out,
            pending: pending.files,
            onHashed: pending.onHashed,
            ...(signal ? { signal } : {}),
            onProgress: (p) => onEvent?.({ kind: 'layer', index, ...p, cached: false, done: false }),
          });
          const { mediaType, digest, size, diffId, uncompressedSize } = r;
          return { mediaType, digest, size, diffId, uncompressedSize };
        },
      );
      done(index, entries, made, false);
      return { ...made, cached: false, key: madeKey! };
    }),
  );
  // Every layer settled first, so no blob opened after the failure of another is left unclosed.
  for (const r of settled) if (r.status === 'fulfilled') options.opened.push(r.value.file);
  const layers = settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  try {
    await sources.finish();
  } catch (err) {
    // A secret found only now, in files hashed as they were packed, is in a layer this build just cached:
    // it must not stay there for a later build (or anyone reading the cache) to find.
    if (isErrorWithCode(err, 'SECRET_FOUND')) {
      for (const layer of layers) if (!layer.cached) await discardCacheEntry(cache.entry(layer.key));
    }
    throw err;
  }
  if (packed > 0) collectGarbage();
  return layers;
}

/** The layers as a build that reads its sources makes them, and what its evidence is made of. */
export interface MadeLayers {
  layers: BuiltLayer[];
  /** Entries per layer. */
  files: number[];
  sourceTreeDigest: Digest;
  /** The SBOM's inputs, for the image `digest`. */
  sbomInput: (digest: Digest) => Promise<SBOMInput>;
  /** What the SBOM envelope is cached by, for the image `digest`. */
  sbomKey: (digest: Digest) => unknown[];
  /** Files with several links (see build-memo.ts). */
  linked: Array<[path: string, stamp: string]>;
}

/** Lists, hashes and scans the sources (collect-sources.ts), then builds the layers from them. */
export async function makeLayers(
  options: Omit<CollectSourcesOptions, 'hashWhilePacking'> &
    Omit<BuildLayersOptions, 'sources'> & { toolVersion: string },
): Promise<MadeLayers> {
  const { spec, cache, useCache, mtime, toolVersion } = options;
  // A build that packs every layer (--no-cache, or no layer cached to find) hashes files as it packs them, so
  // each is read once; otherwise the layer keys, which need every digest, come first.
  const hashWhilePacking = !useCache || (await cache.isEmpty());
  const sources = await collectSources({ ...options, hashWhilePacking });
  const layers = await buildLayers({ ...options, sources });
  const collected = sources.layers;
  return {
    layers,
    files: collected.map((entries) => entries.length),
    sourceTreeDigest: treeDigest(collected),
    sbomInput: async (digest) => ({
      name: spec.name,
      version: spec.version,
      imageDigest: digest,
      created: new Date(mtime * 1000).toISOString(),
      files: imageFiles(collected),
      // Host paths are made only for the few files read (lock files, package manifests).
      packages: await findPackages(
        collected.flat().filter((e) => e.type === 'file' && e.source !== null),
        sourcePath,
      ),
      toolVersion,
    }),
    // The layer keys name every packaged path and content, and the image digest everything else in the
    // image; they leave out the SHA-1s (the layer's bytes follow from the SHA-256s), which the SBOM lists.
    sbomKey: (digest) => {
      const sha1s = createHash('sha256');
      for (const entries of collected) for (const e of entries) if (e.sha1 !== null) sha1s.update(e.sha1);
      const layerKeys = layers.map((l) => l.key);
      return [spec.name, spec.version, digest, mtime, toolVersion, layerKeys, sha1s.digest('hex')];
    },
    linked: sources.linked,
  };
}
