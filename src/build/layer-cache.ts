import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, canonicalJSON } from '../core/index.ts';
import { publishCacheEntry, touchCacheEntry } from './cache-entry.ts';
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
  const { clock } = options;
  return {
    key(inputs: {
      entries: ReadonlyArray<Record<string, unknown>>;
      mtime: number;
      compression: string;
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
    /** The directory of the entry under `key` (what a build used, kept from pruning). */
    entry: (key: string) => join(dir, key),
    /** The layer under `key`, or null when there is none whole (missing, half-removed, or another size). */
    async get(key: string): Promise<CachedLayer | null> {
      const entry = join(dir, key);
      let file: FileHandle | undefined;
      try {
        file = await open(join(entry, 'layer'), 'r');
        const meta = JSON.parse(await readFile(join(entry, 'layer.json'), 'utf8')) as LayerMeta;
        if ((await file.stat()).size === meta.size) {
          await touchCacheEntry(entry, clock);
          return { ...meta, file };
        }
      } catch {
        // missing, or removed between the two reads: a miss
      }
      await file?.close();
      return null;
    },
    /** Runs `make(path)` to write the blob into a fresh directory, then publishes it atomically. */
    async put(key: string, make: (path: string) => Promise<LayerMeta>): Promise<CachedLayer> {
      const entry = join(dir, key);
      const tmp = join(dir, `${key}.${randomBytes(4).toString('hex')}.tmp`);
      await mkdir(tmp, { recursive: true });
      let file: FileHandle | undefined;
      try {
        const meta = await make(join(tmp, 'layer'));
        await writeFile(join(tmp, 'layer.json'), JSON.stringify(meta));
        file = await open(join(tmp, 'layer'), 'r');
        await publishCacheEntry(tmp, entry);
        await touchCacheEntry(entry, clock);
        return { ...meta, file };
      } catch (err) {
        await file?.close();
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    },
  };
}

export type LayerCache = ReturnType<typeof createLayerCache>;
