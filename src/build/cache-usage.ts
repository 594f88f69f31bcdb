/**
 * What the cache of `fixity build` holds, read from the file system alone: every entry of every kind with
 * its size and last use (cache-entry.ts), and the leftovers no build reads (writes in progress or cut short,
 * entries waiting in the trash). Names this code does not write are not its to count or remove.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TRASH } from './cache-entry.ts';

/** The kinds of entry, each a directory under the cache, and what its entries are. */
export const CACHE_KINDS = {
  layers: 'compressed layer blobs, by everything that decides their bytes',
  evidence: 'SBOM envelopes, by everything that decides their bytes',
  files: 'file digests remembered per source directory',
  secrets: 'contents the secret scan found clean, per source',
  builds: 'the last build of each set of inputs, reused while the file watcher sees no change',
  specs: 'fixity.yaml files found valid, by their bytes',
} as const;

export type CacheKind = keyof typeof CACHE_KINDS;

/** One entry: a directory (layers, evidence) or a file (files, secrets, builds, specs). */
export interface CacheEntry {
  kind: CacheKind;
  path: string;
  bytes: number;
  /** When a build last read or wrote it (its mtime), in ms since the epoch. */
  usedAt: number;
}

/** A temporary directory or file, or an entry in the trash. */
export interface CacheLeftover {
  path: string;
  bytes: number;
  /** Its newest mtime, or that of anything in it, in ms since the epoch: a write in progress keeps it young. */
  modifiedAt: number;
  inTrash: boolean;
}

export interface CacheContents {
  entries: CacheEntry[];
  leftovers: CacheLeftover[];
}

/** Per kind, how many entries and bytes; `incomplete` counts the leftovers. */
export type CacheTally = Array<{ kind: CacheKind | 'incomplete'; entries: number; bytes: number }>;

const ENTRY_NAME: Record<CacheKind, RegExp> = {
  layers: /^[0-9a-f]{64}$/,
  evidence: /^[0-9a-f]{64}$/,
  files: /^[0-9a-f]{64}\.json$/,
  secrets: /^[0-9a-f]{64}\.json$/,
  builds: /^[0-9a-f]{64}\.json$/,
  specs: /^[0-9a-f]{64}\.json$/,
};

/** Lists the cache under `dir` (empty when it does not exist). Anything removed while listing is left out. */
export async function scanCache(dir: string): Promise<CacheContents> {
  const entries: CacheEntry[] = [];
  const leftovers: CacheLeftover[] = [];
  for (const kind of Object.keys(CACHE_KINDS) as CacheKind[]) {
    for (const name of await listNames(join(dir, kind))) {
      const path = join(dir, kind, name);
      if (ENTRY_NAME[kind].test(name)) {
        const size = await measure(path);
        if (size !== null) entries.push({ kind, path, bytes: size.bytes, usedAt: size.ownMtime });
      } else if (name.endsWith('.tmp')) {
        const size = await measure(path);
        if (size !== null) leftovers.push({ path, bytes: size.bytes, modifiedAt: size.newestMtime, inTrash: false });
      }
    }
  }
  for (const name of await listNames(join(dir, TRASH))) {
    const size = await measure(join(dir, TRASH, name));
    if (size !== null) {
      leftovers.push({ path: join(dir, TRASH, name), bytes: size.bytes, modifiedAt: size.newestMtime, inTrash: true });
    }
  }
  return { entries, leftovers };
}

/** Entries and bytes per kind, every kind listed (zero when empty), leftovers last as `incomplete`. */
export function tallyCache(entries: readonly CacheEntry[], leftovers: readonly CacheLeftover[]): CacheTally {
  const tally: CacheTally = (Object.keys(CACHE_KINDS) as CacheKind[]).map((kind) => {
    const own = entries.filter((e) => e.kind === kind);
    return { kind, entries: own.length, bytes: sum(own) };
  });
  tally.push({ kind: 'incomplete', entries: leftovers.length, bytes: sum(leftovers) });
  return tally;
}

export function sum(items: ReadonlyArray<{ bytes: number }>): number {
  return items.reduce((total, item) => total + item.bytes, 0);
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * The bytes of the files at `path` (a file, or a directory and what it holds), its own mtime and the newest
 * mtime within; null when it vanished meanwhile.
 */
async function measure(path: string): Promise<{ bytes: number; ownMtime: number; newestMtime: number } | null> {
  try {
    const own = await stat(path);
    if (!own.isDirectory()) return { bytes: own.size, ownMtime: own.mtimeMs, newestMtime: own.mtimeMs };
    let bytes = 0;
    let newestMtime = own.mtimeMs;
    for (const name of await readdir(path)) {
      const inner = await measure(join(path, name));
      if (inner === null) continue;
      bytes += inner.bytes;
      newestMtime = Math.max(newestMtime, inner.newestMtime);
    }
    return { bytes, ownMtime: own.mtimeMs, newestMtime };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
