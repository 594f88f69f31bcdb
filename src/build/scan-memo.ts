/**
 * Remembers which file contents the secret scan found clean, so a warm rebuild does not read unchanged files
 * to scan them again. Keys name content by digest (see `cleanKey` in secret-scan.ts), and the file is named by
 * the source root and the scanner's own code: any change to the rules or the scanning starts a fresh memo.
 * A build saves only the keys it used (nothing when those are all it knew). The file is replaced atomically;
 * one that cannot be read or parsed is ignored. Opening and saving set its mtime from the clock: that is when
 * a build last used it, for pruning (cache-entry.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, digestOf } from '../core/index.ts';
import { touchCacheEntry } from './cache-entry.ts';
import type { CleanContents } from './secret-scan.ts';
import { writeFileAtomic } from './write-file-atomic.ts';

export interface ScanMemo extends CleanContents {
  /** The cache entry (what a build used, kept from pruning). */
  readonly file: string;
  save(): Promise<void>;
  /** Files skipped as known clean, and files scanned, since opening. */
  counts(): { hits: number; misses: number };
}

const VERSION = 1;
const SCANNER = ['./secret-scan.ts', './secret-rules.ts'].map((p) => new URL(p, import.meta.url));
let scannerDigest: Promise<string> | null = null;

/**
 * Names the secret scanner's code and rules: a clean result remembered under another name (an older or newer
 * Fixity) says nothing about this one's.
 */
export function scannerVersion(): Promise<string> {
  scannerDigest ??= Promise.all(SCANNER.map((url) => readFile(url, 'utf8'))).then((code) => digestOf(code.join('\0')));
  return scannerDigest;
}

/** Opens the memo of the build whose source is `root`, under `dir`. */
export async function openScanMemo(dir: string, root: string, options: { clock: Clock }): Promise<ScanMemo> {
  const file = join(
    dir,
    `${digestOf(JSON.stringify([VERSION, root, await scannerVersion()])).slice('sha256:'.length)}.json`,
  );
  const known = await load(file);
  await touchCacheEntry(file, options.clock);
  const used = new Set<string>();
  let hits = 0;
  let misses = 0;
  let added = false;
  return {
    file,
    has(key) {
      if (!known.has(key)) {
        misses++;
        return false;
      }
      hits++;
      used.add(key);
      return true;
    },
    add(key) {
      used.add(key);
      added = true;
    },
    async save() {
      if (!added && used.size === known.size) return;
      await writeFileAtomic(file, JSON.stringify({ version: VERSION, clean: [...used] }));
      await touchCacheEntry(file, options.clock);
    },
    counts: () => ({ hits, misses }),
  };
}

async function load(file: string): Promise<Set<string>> {
  try {
    const { version, clean } = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; clean?: unknown };
    if (version === VERSION && Array.isArray(clean) && clean.every((k) => typeof k === 'string')) return new Set(clean);
  } catch {
    // missing or corrupt: start over
  }
  return new Set();
}
