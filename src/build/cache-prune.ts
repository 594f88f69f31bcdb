/**
 * Keeps the cache of `fixity build` under a size, as BuildKit's garbage collection keeps its cache under
 * `keepStorage`: least-recently-used entries go first, until the entries and leftovers together fit. Every
 * successful build runs it (build.ts) with the entries it used kept; `fixity cache prune` runs it by hand.
 *
 * Safe beside concurrent builds and prunes on the same directory: entries are removed whole by renaming them
 * aside (cache-entry.ts), a build keeps reading what it holds open, and an entry a build touched after the
 * listing is skipped. Leftovers are removed when they are in the trash, or older than LEFTOVER_GRACE_MS
 * (younger temporaries may be a concurrent build's write in progress).
 */
import { rm, stat } from 'node:fs/promises';
import type { Clock } from '../core/index.ts';
import { discardCacheEntry } from './cache-entry.ts';
import { type CacheEntry, type CacheLeftover, type CacheTally, scanCache, sum, tallyCache } from './cache-usage.ts';

/** The size a build keeps its cache under unless told otherwise: 10 GiB, BuildKit's order of magnitude. */
export const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 ** 3;
/** How old a temporary file or directory must be before it counts as left behind by a crash. */
export const LEFTOVER_GRACE_MS = 60 * 60 * 1000;

export interface PruneCacheOptions {
  /** Remove least-recently-used entries until the cache holds at most this many bytes (0: all entries). */
  maxBytes: number;
  /** Paths of entries never removed (those the current build used or produced). */
  keep?: ReadonlySet<string>;
  clock: Clock;
  /** Report what would be removed; remove nothing. */
  dryRun?: boolean;
}

export interface CachePruneResult {
  dir: string;
  maxBytes: number;
  dryRun: boolean;
  /** Bytes of entries and leftovers before and after (after as it would be, on a dry run). */
  bytesBefore: number;
  bytesAfter: number;
  /** What was (or would be) removed, per kind. */
  removed: CacheTally;
  /** What remains, per kind. */
  remaining: CacheTally;
}

/** Prunes the cache under `dir` to `options.maxBytes`. */
export async function pruneCache(dir: string, options: PruneCacheOptions): Promise<CachePruneResult> {
  const { keep = new Set<string>(), clock, dryRun = false } = options;
  const maxBytes = assertCacheMaxBytes(options.maxBytes);
  const { entries, leftovers } = await scanCache(dir);
  const bytesBefore = sum(entries) + sum(leftovers);
  const staleBefore = clock.now().getTime() - LEFTOVER_GRACE_MS;
  const stale = leftovers.filter((l) => l.inTrash || l.modifiedAt < staleBefore);
  const removedLeftovers = dryRun ? stale : await removeLeftovers(stale);

  let bytes = bytesBefore - sum(removedLeftovers);
  const removedEntries: CacheEntry[] = [];
  for (const entry of leastRecentlyUsed(entries, keep)) {
    if (bytes <= maxBytes) break;
    if (dryRun || (await evict(entry))) {
      removedEntries.push(entry);
      bytes -= entry.bytes;
    }
  }
  const gone = new Set<CacheEntry | CacheLeftover>([...removedEntries, ...removedLeftovers]);
  return {
    dir,
    maxBytes,
    dryRun,
    bytesBefore,
    bytesAfter: bytes,
    removed: tallyCache(removedEntries, removedLeftovers),
    remaining: tallyCache(
      entries.filter((e) => !gone.has(e)),
      leftovers.filter((l) => !gone.has(l)),
    ),
  };
}

/** `maxBytes` when it is a size to prune to (a whole number of bytes, 0 or more); throws a RangeError if not. */
export function assertCacheMaxBytes(maxBytes: number): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(
      `Cannot keep the build cache under ${maxBytes} bytes: give a whole number of bytes, 0 or more`,
    );
  }
  return maxBytes;
}

/** Entries that may go, least recently used first (ties by path, so the order is the same on every run). */
function leastRecentlyUsed(entries: readonly CacheEntry[], keep: ReadonlySet<string>): CacheEntry[] {
  return entries
    .filter((e) => !keep.has(e.path))
    .sort((a, b) => a.usedAt - b.usedAt || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Removes `entry` unless a build used it since the listing or it is gone already; true when removed here. */
async function evict(entry: CacheEntry): Promise<boolean> {
  try {
    if ((await stat(entry.path)).mtimeMs !== entry.usedAt) return false;
  } catch {
    return false;
  }
  return discardCacheEntry(entry.path);
}

/** Deletes leftovers; those a concurrent prune deleted first still count, as nothing of them remains. */
async function removeLeftovers(leftovers: readonly CacheLeftover[]): Promise<CacheLeftover[]> {
  const removed: CacheLeftover[] = [];
  for (const leftover of leftovers) {
    try {
      await rm(leftover.path, { recursive: true, force: true });
      removed.push(leftover);
    } catch {
      // a concurrent prune is deleting it too, or it is not ours to delete: it stays for the next prune
    }
  }
  return removed;
}
