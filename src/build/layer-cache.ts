import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { type Clock, canonicalJSON } from '../core/index.ts';
import { createBlobEntries } from './cache-entry.ts';
import type { LayerDescriptor } from './image-config.ts';

export interface CachedLayer extends LayerDescriptor {
  /**
   * The compressed blob, open: it stays readable even if a concurrent prune removes the entry. The caller
   * closes it.
   */
  file: FileHandle;
  uncompressedSize: number;
}

type LayerMeta = Omit<CachedLayer, 'file'>;

/**
 * Layers keyed by everything that determines their bytes: every entry (path, type, mode, owner, size,
 * content digest, link), the timestamp, the compression and the tool versions. An unchanged layer is
 * neither re-tarred nor re-compressed. Each entry is a directory (`layer`, `layer.json`) published and
 * removed whole (cache-entry.ts); its mtime records when a build last used it.
 */
export function createLayerCache(dir: string, options: { clock: Clock }) {
  const blobs = createBlobEntries<LayerMeta>(dir, 'layer', options.clock);
  return {
    key(inputs: {
      entries: ReadonlyArray<Record<string, unknown>>;
      mtime: number;
      compression: string;
      /** Present only when not the compression's default, so default builds keep their keys. */
      compressionLevel?: number;
      toolVersion: string;
    }): string {
      // Entry by entry rather than one canonical document: a 100k-file layer is hashed in a fraction of the
      // time. Each entry is its JSON without `source` (the host path), so a layer moved elsewhere still hits,
      // and without `sha1` (SBOM evidence; the layer's bytes follow from `digest`).
      const { entries, ...rest } = inputs;
      const hash = createHash('sha256').update(canonicalJSON({ ...rest, node: process.versions.node.split('.')[0] }));
      for (const { source: _source, sha1: _sha1, ...entry } of entries) hash.update(`\n${JSON.stringify(entry)}`);
      return hash.digest('hex');
    },
    entry: blobs.entry,
    isEmpty: blobs.isEmpty,
    /** The layer under `key`, or null when there is none whole (missing, half-removed, or another size). */
    async get(key: string): Promise<CachedLayer | null> {
      const hit = await blobs.get(key);
      return hit && { ...hit.meta, file: hit.file };
    },
    /** Runs `make(path)` to write the blob, then publishes it under `key` (see createBlobEntries). */
    async put(key: string | (() => string), make: (path: string) => Promise<LayerMeta>): Promise<CachedLayer> {
      const made = await blobs.put(key, make);
      return { ...made.meta, file: made.file };
    },
  };
}

export type LayerCache = ReturnType<typeof createLayerCache>;
