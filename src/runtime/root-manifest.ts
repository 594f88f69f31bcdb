import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { canonicalJSON, type Digest, digestOf } from '../core/index.ts';
import type { DriftFinding } from './types.ts';

/** One file system entry of an unpacked root, by its absolute path inside the root. */
export interface RootEntry {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'other';
  readonly mode: number;
  readonly size: number;
  readonly sha256?: string;
  readonly linkTarget?: string;
}

/** What a root held when it was unpacked: entries sorted by path, and the digest of their canonical JSON. */
export interface RootManifest {
  readonly digest: Digest;
  readonly entries: readonly RootEntry[];
}

const HASH_CONCURRENCY = 16;

/** Lists every entry under `dir` (never following symlinks) and hashes every regular file's bytes. */
export async function scanRoot(dir: string): Promise<RootManifest> {
  const entries: Array<{ path: string; type: RootEntry['type']; mode: number; size: number }> = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = `${rel}/${name}`;
      const st = await lstat(join(dir, path));
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
      entries.push({ path, type, mode: st.mode & 0o7777, size: type === 'file' ? st.size : 0 });
      if (type === 'directory') await walk(path);
    }
  };
  await walk('');
  const done: RootEntry[] = new Array(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const e = entries[i]!;
      if (e.type === 'file') done[i] = { ...e, sha256: await hashFile(join(dir, e.path)) };
      else if (e.type === 'symlink') done[i] = { ...e, linkTarget: await readlink(join(dir, e.path)) };
      else done[i] = e;
    }
  };
  await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  done.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { digest: digestOf(canonicalJSON(done)), entries: done };
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

function describe(e: RootEntry): string {
  const body = e.type === 'file' ? ` ${e.size} sha256:${e.sha256}` : e.type === 'symlink' ? ` -> ${e.linkTarget}` : '';
  return `${e.type} ${e.mode.toString(8).padStart(4, '0')}${body}`;
}

/** Every difference between two manifests: a changed, added or removed entry is drift. */
export function diffManifest(expected: RootManifest, actual: RootManifest): DriftFinding[] {
  if (expected.digest === actual.digest) return [];
  const before = new Map(expected.entries.map((e) => [e.path, e]));
  const after = new Map(actual.entries.map((e) => [e.path, e]));
  const findings: DriftFinding[] = [];
  for (const [path, e] of before) {
    const a = after.get(path);
    if (a === undefined) findings.push({ kind: 'file-removed', subject: path, expected: describe(e), actual: null });
    else if (describe(a) !== describe(e))
      findings.push({ kind: 'file-changed', subject: path, expected: describe(e), actual: describe(a) });
  }
  for (const [path, a] of after) {
    if (!before.has(path)) findings.push({ kind: 'file-added', subject: path, expected: null, actual: describe(a) });
  }
  return findings.sort((x, y) => (x.subject < y.subject ? -1 : x.subject > y.subject ? 1 : 0));
}
