/**
 * The life of one entry in the cache `fixity build` keeps: `<cache>/<kind>/<name>`, a directory (layers,
 * evidence) or a file (file digests, secret scans). Every cache goes through these, so a prune
 * (cache-prune.ts) can treat them alike.
 *
 * - Use is the entry's mtime, set from the build's clock whenever a build reads or writes the entry: one
 *   utimes call, no index to keep consistent with the entries, and the order least-recently-used eviction needs.
 * - An entry is never deleted in place: it is renamed into `<cache>/trash` (atomic on one file system) and
 *   deleted there. A reader finds the whole entry or nothing (a miss); a crash leaves only trash, which the
 *   next prune empties.
 * - Readers hold open handles on the bytes they use (layer-cache.ts, evidence-cache.ts), so an entry removed
 *   by a concurrent prune or build stays readable to them until they close it.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Clock } from '../core/index.ts';

/** The directory beside the kinds where removed entries wait to be deleted. */
export const TRASH = 'trash';

/** Records that a build used the entry at `path` now. Best effort: an entry removed meanwhile stays removed. */
export async function touchCacheEntry(path: string, clock: Clock): Promise<void> {
  const now = clock.now();
  try {
    await utimes(path, now, now);
  } catch {
    // gone (a miss next time) or not ours to touch (a shared cache): the order is a hint, never a failure
  }
}

/** Removes the entry at `path` as described above; false when it was already gone. */
export async function discardCacheEntry(path: string): Promise<boolean> {
  const trash = join(dirname(dirname(path)), TRASH);
  const aside = join(
    trash,
    `${basename(dirname(path))}.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`,
  );
  await mkdir(trash, { recursive: true });
  try {
    await rename(path, aside);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
  await rm(aside, { recursive: true, force: true }).catch(() => {
    // left in the trash, which the next prune empties
  });
  return true;
}

/**
 * Publishes the finished directory `tmp` as the entry `path`. An entry already there (an invalid one that
 * missed, or the same key published by a concurrent build) is discarded first; when another build publishes
 * between the two renames, its entry stands (same key, same bytes) and `tmp` is dropped.
 */
export async function publishCacheEntry(tmp: string, path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(tmp, path);
      return;
    } catch (err) {
      if (!isOccupied(err)) throw err;
      if (attempt > 0) {
        await rm(tmp, { recursive: true, force: true });
        return;
      }
      await discardCacheEntry(path);
    }
  }
}

/** A blob read from (or just written to) the cache: its metadata, its path in the entry, and the blob open. */
export interface CachedBlob<M> {
  meta: M;
  path: string;
  /** Stays readable even if a concurrent prune removes the entry; the caller closes it. */
  file: FileHandle;
}

/**
 * Entries that each hold one blob, `<dir>/<key>/<name>`, and its metadata (at least its size) in
 * `<name>.json`: the layer and evidence caches. An entry whose blob is missing or has another size is a miss.
 */
export function createBlobEntries<M extends { size: number }>(dir: string, name: string, clock: Clock) {
  return {
    /** The directory of the entry under `key` (what a build used, kept from pruning). */
    entry: (key: string) => join(dir, key),
    /** Whether no entry is there at all (temporaries and leftovers aside): no `get` can hit. */
    async isEmpty(): Promise<boolean> {
      try {
        return (await readdir(dir)).every((n) => n.endsWith('.tmp'));
      } catch (err) {
        if (errorCode(err) === 'ENOENT') return true;
        throw err;
      }
    },
    /** The blob under `key`, or null when there is none whole (missing, half-removed, or another size). */
    async get(key: string): Promise<CachedBlob<M> | null> {
      const entry = join(dir, key);
      const path = join(entry, name);
      let file: FileHandle | undefined;
      try {
        file = await open(path, 'r');
        const meta = JSON.parse(await readFile(`${path}.json`, 'utf8')) as M;
        if ((await file.stat()).size === meta.size) {
          await touchCacheEntry(entry, clock);
          return { meta, path, file };
        }
      } catch {
        // missing, or removed between the two reads: a miss
      }
      await file?.close();
      return null;
    },
    /**
     * Runs `make(path)` to write the blob into a fresh directory, then publishes it atomically under `key`, or
     * under `key()` when the key is known only once the blob is made.
     */
    async put(key: string | (() => string), make: (path: string) => Promise<M>): Promise<CachedBlob<M>> {
      const tmp = join(dir, `${typeof key === 'string' ? key : 'new'}.${randomBytes(4).toString('hex')}.tmp`);
      await mkdir(tmp, { recursive: true });
      let file: FileHandle | undefined;
      try {
        const meta = await make(join(tmp, name));
        await writeFile(join(tmp, `${name}.json`), JSON.stringify(meta));
        file = await open(join(tmp, name), 'r');
        const entry = join(dir, typeof key === 'string' ? key : key());
        await publishCacheEntry(tmp, entry);
        await touchCacheEntry(entry, clock);
        return { meta, path: join(entry, name), file };
      } catch (err) {
        await file?.close();
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    },
  };
}

function isOccupied(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOTEMPTY' || code === 'EEXIST';
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}
