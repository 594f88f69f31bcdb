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
 * - One file per layer source root (`<dir>/<sha256 of root>.json`), paths relative to it. A build saves
 *   only the entries it used, so deleted files drop out, and writes nothing when it used all as they were.
 * - The file is replaced atomically (temporary file and rename); one that cannot be read or parsed, or has
 *   another version or root, is ignored, never trusted in part. Opening and saving set its mtime from the
 *   clock: that is when a build last used it, for pruning (cache-entry.ts). Version 2 added the SHA-1 and
 *   version 3 the scan verdict: an older file is ignored, and the next build hashes everything once.
 * - Each file also carries whether the secret scan found its content clean (`markClean`), under the scanner's
 *   version (scan-memo.ts): a rebuild then neither reads nor looks up an unchanged file to scan it. Verdicts
 *   of another scanner version are dropped when the file is read; the digests stay good.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, digestOf } from '../core/index.ts';
import { touchCacheEntry } from './cache-entry.ts';
import type { FileStamp } from './source-file.ts';
import { writeFileAtomic } from './write-file-atomic.ts';

export type FileDigest = `sha256:${string}`;

/** What is remembered of one file's content: its OCI digest and its SHA-1 as lowercase hex. */
export interface FileDigests {
  digest: FileDigest;
  sha1: string;
}

/**
 * Port used by collectLayer: digests known for files by their stamp. Files are named by their path relative
 * to the layer source root (`rel`), the string the walk made anyway: a copy per file cost ~9 MB for 90k files.
 */
export interface DigestCache {
  /** The digests recorded for `rel` at this stamp, or null when unknown, changed or too recent to trust. */
  get(rel: string, stamp: FileStamp): FileDigests | null;
  /** Records `digests` as those of the content of `rel` at `stamp`. */
  set(rel: string, stamp: FileStamp, digests: FileDigests): void;
}

/** A DigestCache kept in a file; `save()` writes what this build used. */
export interface FileDigestCache extends DigestCache {
  /** The cache entry (what a build used, kept from pruning). */
  readonly file: string;
  /** Whether the content remembered for `rel` (by this build's get or set) was found clean by this scanner. */
  isClean(rel: string): boolean;
  /** Records that the content remembered for `rel` was found clean; nothing when none is remembered. */
  markClean(rel: string): void;
  save(): Promise<void>;
  /** Lookups answered from the cache (files not read) and not (files hashed), since opening. */
  counts(): { hits: number; misses: number };
}

export const RACY_MS = 2000;
const VERSION = 3;

// One remembered file as stored: path (relative to the root when under it), stamp, SHA-256 hex, SHA-1 hex,
// and 1 when the scanner found the content clean (else 0). Rows stay as JSON.parse made them: 90k small
// objects per build would cost more than the lookups save.
type Row = [path: string, stamp: string, hex: string, sha1: string, clean: 0 | 1];

/**
 * Opens the digest cache of the layer source directory `root` under `dir` (empty when there is none yet);
 * `scanner` names the secret scanner whose verdicts it keeps.
 */
export async function openDigestCache(
  dir: string,
  root: string,
  options: { clock: Clock; scanner?: string },
): Promise<FileDigestCache> {
  const file = join(dir, `${digestOf(root).slice('sha256:'.length)}.json`);
  const openedAt = options.clock.now().getTime();
  const { known, trustBeforeNs } = await load(file, root, options.scanner ?? '');
  await touchCacheEntry(file, options.clock);
  const used = new Map<string, Row>();
  let hits = 0;
  let misses = 0;
  let changed = false;
  return {
    file,
    get(rel, stamp) {
      const row = known.get(rel);
      if (
        row === undefined ||
        row[1] !== stampOf(stamp) ||
        stamp.mtimeNs >= trustBeforeNs ||
        stamp.ctimeNs >= trustBeforeNs
      ) {
        misses++;
        return null;
      }
      hits++;
      used.set(rel, row);
      return { digest: `sha256:${row[2]}`, sha1: row[3] };
    },
    set(rel, stamp, digests) {
      used.set(rel, [rel, stampOf(stamp), digests.digest.slice(7), digests.sha1, 0]);
      changed = true;
    },
    isClean: (rel) => used.get(rel)?.[4] === 1,
    markClean(rel) {
      const row = used.get(rel);
      if (row === undefined || row[4] === 1) return;
      used.set(rel, [row[0], row[1], row[2], row[3], 1]); // a copy: `known` keeps what the file said
      changed = true;
    },
    async save() {
      if (!changed && used.size === known.size) return; // every entry was used as it was: the file stands
      // What JSON.stringify({ version, root, recordedAtMs, entries }) gives, in 64 KiB pieces.
      await writeFileAtomic(
        file,
        (function* () {
          let text = `{"version":${VERSION},"root":${JSON.stringify(root)},"scanner":${JSON.stringify(options.scanner ?? '')},"recordedAtMs":${openedAt},"entries":[`;
          let first = true;
          for (const row of used.values()) {
            text += `${first ? '' : ','}${JSON.stringify(row)}`;
            first = false;
            if (text.length >= 1 << 16) {
              yield text;
              text = '';
            }
          }
          yield `${text}]}`;
        })(),
      );
      await touchCacheEntry(file, options.clock);
    },
    counts: () => ({ hits, misses }),
  };
}

// `dev:ino:size:mtimeNs:ctimeNs`. Joined, not a template literal: V8 builds that as a tree of 8 concatenated
// strings over 5 number strings (~430 bytes, against ~70 flat), and a fill build keeps one per file until it
// saves (measured in the middle of hashing 90k files: 140 MB live before, 119 after).
export function stampOf(s: FileStamp): string {
  return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(':');
}

async function load(
  file: string,
  root: string,
  scanner: string,
): Promise<{ known: Map<string, Row>; trustBeforeNs: bigint }> {
  const known = new Map<string, Row>();
  const empty = { known, trustBeforeNs: 0n };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return empty; // missing or corrupt: start over
  }
  const { version, root: storedRoot, recordedAtMs, entries, ...rest } = (parsed ?? {}) as Record<string, unknown>;
  if (version !== VERSION || storedRoot !== root || !Number.isSafeInteger(recordedAtMs) || !Array.isArray(entries)) {
    return empty;
  }
  const sameScanner = rest.scanner === scanner;
  for (const entry of entries as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 5) return empty;
    const row = entry as Row;
    if (
      typeof row[0] !== 'string' ||
      typeof row[1] !== 'string' ||
      typeof row[2] !== 'string' ||
      typeof row[3] !== 'string' ||
      (row[4] !== 0 && row[4] !== 1) ||
      !/^[0-9a-f]{64}$/.test(row[2]) ||
      !/^[0-9a-f]{40}$/.test(row[3])
    ) {
      return empty;
    }
    if (!sameScanner) row[4] = 0;
    known.set(row[0], row);
  }
  return { known, trustBeforeNs: BigInt((recordedAtMs as number) - RACY_MS) * 1_000_000n };
}
