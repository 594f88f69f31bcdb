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
import { mkdir, rename, rm, utimes } from 'node:fs/promises';
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

function isOccupied(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOTEMPTY' || code === 'EEXIST';
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}
