/**
 * Remembers file digests between builds, as git's index does, so a warm rebuild does not read unchanged files.
 * Each file's SHA-256 (its OCI digest) is kept with its SHA-1 (which the SPDX SBOM requires), both from one read.
 *
 * - A digest is reused only while the file's dev, ino, size, mtime and ctime are all unchanged.
 * - Racy git: a file written in the same timestamp tick as it was hashed could change again without its
 *   stamp changing. So an entry is trusted only when the file's mtime and ctime are more than `RACY_MS` older
 *   than the session that recorded it (the time the cache was opened, before any hashing); younger files are
 *   hashed again on every build until they age. File and clock times are assumed to come from one clock, as
 *   git assumes; a file system whose clock runs well behind this host's weakens the rule.
 * - One file per layer source root (`<dir>/<sha256 of root>.json`), paths stored relative to it. A build saves
 *   only the entries it used, so deleted files drop out, and writes nothing when it used all as they were.
 * - The file is replaced atomically (temporary file and rename); one that cannot be read or parsed, or has
 *   another version or root, is ignored, never trusted in part. Version 2 added the SHA-1: a version 1 file
 *   has none, so it is ignored and the next build hashes everything once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, digestOf } from '../core/index.ts';
import type { FileStamp } from './source-file.ts';
import { writeFileAtomic } from './write-file-atomic.ts';

export type FileDigest = `sha256:${string}`;

/** What is remembered of one file's content: its OCI digest and its SHA-1 as lowercase hex. */
export interface FileDigests {
  digest: FileDigest;
  sha1: string;
}

/** Port used by collectLayer: digests known for files by their stamp. */
export interface DigestCache {
  /** The digests recorded for `path` at this stamp, or null when unknown, changed or too recent to trust. */
  get(path: string, stamp: FileStamp): FileDigests | null;
  /** Records `digests` as those of the content of `path` at `stamp`. */
  set(path: string, stamp: FileStamp, digests: FileDigests): void;
}

/** A DigestCache kept in a file; `save()` writes what this build used. */
export interface FileDigestCache extends DigestCache {
  save(): Promise<void>;
  /** Lookups answered from the cache (files not read) and not (files hashed), since opening. */
  counts(): { hits: number; misses: number };
}

export const RACY_MS = 2000;
const VERSION = 2;

interface Stored {
  stamp: string;
  digests: FileDigests;
}

/** Opens the digest cache of the layer source directory `root` under `dir` (empty when there is none yet). */
export async function openDigestCache(dir: string, root: string, options: { clock: Clock }): Promise<FileDigestCache> {
  const file = join(dir, `${digestOf(root).slice('sha256:'.length)}.json`);
  const openedAt = options.clock.now().getTime();
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const { known, trustBeforeNs } = await load(file, root, prefix);
  const used = new Map<string, Stored>();
  let hits = 0;
  let misses = 0;
  let changed = false;
  return {
    get(path, stamp) {
      const entry = known.get(path);
      if (
        entry === undefined ||
        entry.stamp !== stampOf(stamp) ||
        stamp.mtimeNs >= trustBeforeNs ||
        stamp.ctimeNs >= trustBeforeNs
      ) {
        misses++;
        return null;
      }
      hits++;
      used.set(path, entry);
      return entry.digests;
    },
    set(path, stamp, digests) {
      used.set(path, { stamp: stampOf(stamp), digests });
      changed = true;
    },
    async save() {
      if (!changed && used.size === known.size) return; // every entry was used as it was: the file stands
      const entries: string[][] = [];
      for (const [path, { stamp, digests }] of used) {
        const relative = path.startsWith(prefix) ? path.slice(prefix.length) : path;
        entries.push([relative, stamp, digests.digest.slice(7), digests.sha1]);
      }
      await writeFileAtomic(file, JSON.stringify({ version: VERSION, root, recordedAtMs: openedAt, entries }));
    },
    counts: () => ({ hits, misses }),
  };
}

function stampOf(s: FileStamp): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

async function load(
  file: string,
  root: string,
  prefix: string,
): Promise<{ known: Map<string, Stored>; trustBeforeNs: bigint }> {
  const known = new Map<string, Stored>();
  const empty = { known, trustBeforeNs: 0n };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return empty; // missing or corrupt: start over
  }
  const { version, root: storedRoot, recordedAtMs, entries } = (parsed ?? {}) as Record<string, unknown>;
  if (version !== VERSION || storedRoot !== root || !Number.isSafeInteger(recordedAtMs) || !Array.isArray(entries)) {
    return empty;
  }
  for (const entry of entries as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 4 || !entry.every((v) => typeof v === 'string')) return empty;
    const [path, stamp, hex, sha1] = entry as [string, string, string, string];
    if (!/^[0-9a-f]{64}$/.test(hex) || !/^[0-9a-f]{40}$/.test(sha1)) return empty;
    known.set(path.startsWith('/') ? path : prefix + path, { stamp, digests: { digest: `sha256:${hex}`, sha1 } });
  }
  return { known, trustBeforeNs: BigInt((recordedAtMs as number) - RACY_MS) * 1_000_000n };
}
