import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJSON } from '../core/index.ts';
import type { LayerDescriptor } from './image-config.ts';

export interface CachedLayer extends LayerDescriptor {
  /** Path of the compressed blob on disk. */
  path: string;
  uncompressedSize: number;
}

/**
 * Layers keyed by everything that determines their bytes: every entry (path, type, mode, owner, size,
 * content digest, link), the timestamp, the compression and the tool versions. An unchanged layer is
 * neither re-tarred nor re-compressed.
 */
export function createLayerCache(dir: string) {
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
    async get(key: string): Promise<CachedLayer | null> {
      try {
        const meta = JSON.parse(await readFile(join(dir, key, 'layer.json'), 'utf8')) as Omit<CachedLayer, 'path'>;
        const path = join(dir, key, 'layer');
        if ((await stat(path)).size !== meta.size) return null;
        return { ...meta, path };
      } catch {
        return null;
      }
    },
    /** Runs `make(path)` to write the blob into a fresh directory, then publishes it atomically. */
    async put(key: string, make: (path: string) => Promise<Omit<CachedLayer, 'path'>>): Promise<CachedLayer> {
      const tmp = join(dir, `${key}.${randomBytes(4).toString('hex')}.tmp`);
      await mkdir(tmp, { recursive: true });
      try {
        const meta = await make(join(tmp, 'layer'));
        await writeFile(join(tmp, 'layer.json'), JSON.stringify(meta));
        await rm(join(dir, key), { recursive: true, force: true });
        await rename(tmp, join(dir, key));
        return { ...meta, path: join(dir, key, 'layer') };
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    },
  };
}

export type LayerCache = ReturnType<typeof createLayerCache>;
