/**
 * The layer step of a build: each layer taken from the layer cache when its key is there, else packed and
 * compressed into it (all layers at once). A layer whose files are still pending (collect-sources.ts) has no
 * key until packing has hashed them, so it is packed without a lookup, and its key is known afterwards.
 * Ends with the sources' finish(): what packing hashed is remembered and scanned, and SECRET_FOUND stops the
 * build here, after the layers packed by this build are taken out of the cache again.
 */
import type { FileHandle } from 'node:fs/promises';
import { isErrorWithCode } from '../core/index.ts';
import type { BuildEvent } from './build.ts';
import { discardCacheEntry } from './cache-entry.ts';
import { collectGarbage } from './collect-garbage.ts';
import type { CollectedSources } from './collect-sources.ts';
import type { LayerDescriptor } from './image-config.ts';
import type { LayerCache } from './layer-cache.ts';
import { writeLayer } from './layer-tar.ts';
import type { FileEntry } from './source-tree.ts';

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
