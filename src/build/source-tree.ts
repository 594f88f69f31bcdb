/**
 * Collects the files of one layer: walks `from` without following symlinks, applies include/exclude
 * (see source-glob.ts), normalises metadata and hashes contents, so the layer writer and the SBOM see the same
 * bytes. Nothing host-specific (mtime, atime, owner, umask) survives into an entry.
 *
 * - Paths are image paths without a leading slash, sorted bytewise (UTF-8). Every parent directory is present,
 *   the parents of `to` too (those as root:root 0755, as base images have them); `to` and everything below it
 *   get `uid`/`gid` from the options (default 0/0).
 * - Modes: directories 0755; files 0755 when any execute bit is set, else 0644; symlinks 0777. The last
 *   matching `modes` glob (in object order) overrides a file's or directory's bits.
 * - Symlinks stay symlinks with their target text unchanged, and are never followed. A target that is absolute,
 *   or that leaves `from` (lexically, or on the host through other symlinks) is SOURCE_ESCAPE: in the image it
 *   would point at something this source does not hold (see read-symlink-target.ts). Dangling targets inside
 *   `from` are kept.
 * - Hardlinks: regular files sharing dev+ino (and the same normalised mode) are stored once. The bytewise-first
 *   path is the 'file'; later paths are 'hardlink' entries whose linkname is that path and which carry its
 *   digest and size (the tar header itself has size 0).
 * - Errors: names that are not UTF-8 are NAME_INVALID, sockets/FIFOs/devices SOURCE_UNSUPPORTED, unreadable
 *   files SOURCE_UNREADABLE, files that change while being hashed SOURCE_CHANGED. Excluded paths are never read.
 */
import { isUtf8 } from 'node:buffer';
import type { BigIntStats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { BuildError, toSourceError } from './build-error.ts';
import { mapConcurrent } from './map-concurrent.ts';
import { readSymlinkTarget } from './read-symlink-target.ts';
import { hashSourceFile } from './source-file.ts';
import { compileSourceGlob, type SourceGlob } from './source-glob.ts';

export interface LayerSource {
  /** Absolute host directory whose contents form the layer. */
  from: string;
  /** Absolute image directory the contents land in, e.g. `/app`. */
  to: string;
  /** Globs relative to `from` to package; default everything. */
  include?: string[];
  /** Globs relative to `from` to leave out (and not descend into); they win over `include`. */
  exclude?: string[];
  /** Glob → permission bits (0..0o7777); the last match wins. */
  modes?: Record<string, number>;
}

export interface CollectOptions {
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
}

export interface FileEntry {
  /** Image path, no leading or trailing slash, e.g. `app/server.js`. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  /** Permission bits only. */
  mode: number;
  uid: number;
  gid: number;
  /** Content size of a file or hardlink; 0 otherwise. */
  size: number;
  /** SHA-256 of a file's (or hardlink's) content; null otherwise. */
  digest: `sha256:${string}` | null;
  /** Symlink target text, or the image path a hardlink points at; null otherwise. */
  linkname: string | null;
  /** Absolute host path of a file or hardlink; null otherwise. */
  source: string | null;
}

interface Found {
  rel: string;
  host: string;
  stat: BigIntStats;
  kind: 'file' | 'directory' | 'symlink';
}

const HASH_CONCURRENCY = 8;
const MAX_ID = 0xfffffffe;

/** Lists a layer's entries, sorted and normalised, with file digests; see the top of this file for the rules. */
export async function collectLayer(layer: LayerSource, options: CollectOptions = {}): Promise<FileEntry[]> {
  const { signal } = options;
  signal?.throwIfAborted();
  const uid = checkId(options.uid ?? 0, 'uid');
  const gid = checkId(options.gid ?? 0, 'gid');
  const to = parseTo(layer.to);
  const include = (layer.include ?? []).map((g) => compileSourceGlob(g));
  const exclude = (layer.exclude ?? []).map((g) => compileSourceGlob(g));
  const modes = Object.entries(layer.modes ?? {}).map(([g, mode]) => ({
    glob: compileSourceGlob(g),
    mode: checkMode(g, mode),
  }));
  const root = await openRoot(layer.from);
  const found = await walk(root, { include, exclude, signal });

  const prefix = to.join('/');
  const imagePath = (rel: string) => (prefix === '' ? rel : `${prefix}/${rel}`);
  const entries: FileEntry[] = to.map((_, i) => ({
    ...blank(to.slice(0, i + 1).join('/'), 'directory'),
    mode: 0o755,
    ...(i === to.length - 1 ? { uid, gid } : {}),
  }));
  for (const f of found) {
    const entry: FileEntry = { ...blank(imagePath(f.rel), f.kind), uid, gid, mode: normalMode(f, modes) };
    if (f.kind === 'symlink') entry.linkname = await readSymlinkTarget(root, f);
    if (f.kind === 'file') entry.source = f.host;
    entries.push(entry);
  }
  const keys = new Map(entries.map((e) => [e, Buffer.from(e.path)]));
  entries.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!));

  const stats = new Map(found.map((f) => [imagePath(f.rel), f.stat]));
  const { contents, links } = findHardlinks(entries, stats);
  await mapConcurrent(contents, HASH_CONCURRENCY, async (entry) => {
    const { digest, size } = await hashSourceFile(entry.source!, stats.get(entry.path)!, signal ? { signal } : {});
    entry.digest = digest;
    entry.size = size;
  });
  for (const { entry, target } of links) {
    entry.digest = target.digest;
    entry.size = target.size;
  }
  return entries;
}

// Turns later paths of a shared inode into hardlinks: the bytewise-first path (with one mode) keeps the content.
function findHardlinks(
  sorted: FileEntry[],
  stats: Map<string, BigIntStats>,
): { contents: FileEntry[]; links: Array<{ entry: FileEntry; target: FileEntry }> } {
  const firsts = new Map<string, FileEntry>();
  const contents: FileEntry[] = [];
  const links: Array<{ entry: FileEntry; target: FileEntry }> = [];
  for (const entry of sorted) {
    if (entry.type !== 'file') continue;
    const st = stats.get(entry.path)!;
    const key = `${st.dev}:${st.ino}:${entry.mode}`;
    const first = st.nlink > 1n ? firsts.get(key) : undefined;
    if (first === undefined) {
      if (st.nlink > 1n) firsts.set(key, entry);
      contents.push(entry);
    } else {
      entry.type = 'hardlink';
      entry.linkname = first.path;
      links.push({ entry, target: first });
    }
  }
  return { contents, links };
}

async function walk(
  root: string,
  rules: { include: SourceGlob[]; exclude: SourceGlob[]; signal: AbortSignal | undefined },
): Promise<Found[]> {
  const out: Found[] = [];
  // Returns whether anything below `dirHost` was kept, so a directory is kept when it holds kept entries.
  const visit = async (dirHost: string, dirRel: string, included: boolean): Promise<boolean> => {
    rules.signal?.throwIfAborted();
    let names: Buffer[];
    try {
      names = await readdir(dirHost, { encoding: 'buffer' });
    } catch (err) {
      throw toSourceError(err, dirHost, 'read directory');
    }
    const children = await Promise.all(
      names.map(async (raw) => {
        if (!isUtf8(raw)) {
          throw new BuildError(
            'NAME_INVALID',
            `Cannot package ${dirHost}/${escaped(raw)}: its name is not valid UTF-8; rename it`,
            {
              detail: { path: `${dirHost}/${escaped(raw)}` },
            },
          );
        }
        const host = `${dirHost}/${raw.toString('utf8')}`;
        try {
          return { host, name: raw.toString('utf8'), stat: await lstat(host, { bigint: true }) };
        } catch (err) {
          throw toSourceError(err, host, 'inspect');
        }
      }),
    );
    let kept = false;
    for (const { host, name, stat } of children) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const isDirectory = stat.isDirectory();
      if (rules.exclude.some((g) => g.matches(rel, isDirectory))) continue;
      const inc = included || rules.include.some((g) => g.matches(rel, isDirectory));
      if (isDirectory) {
        const descend = inc || rules.include.some((g) => g.couldMatchBelow(rel));
        if ((descend && (await visit(host, rel, inc))) || inc) {
          out.push({ rel, host, stat, kind: 'directory' });
          kept = true;
        }
        continue;
      }
      if (!inc) continue;
      if (stat.isFile()) out.push({ rel, host, stat, kind: 'file' });
      else if (stat.isSymbolicLink()) out.push({ rel, host, stat, kind: 'symlink' });
      else {
        throw new BuildError(
          'SOURCE_UNSUPPORTED',
          `Cannot package ${host}: it is a ${specialKind(stat)}; a layer holds only files, directories and symlinks (exclude it)`,
          { detail: { path: host } },
        );
      }
      kept = true;
    }
    return kept;
  };
  await visit(root, '', rules.include.length === 0);
  return out;
}

async function openRoot(from: string): Promise<string> {
  if (!isAbsolute(from)) {
    throw new BuildError('LAYER_INVALID', `Cannot collect layer from "${from}": from must be an absolute host path`);
  }
  let root: string;
  try {
    root = await realpath(from);
    if ((await stat(root)).isDirectory()) return root;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw toSourceError(err, from, 'read directory');
  }
  throw new BuildError('SOURCE_UNREADABLE', `Cannot collect layer from ${from}: it is not a directory`, {
    detail: { path: from },
  });
}

function parseTo(to: string): string[] {
  const segments = to.split('/').filter((s) => s !== '');
  if (!to.startsWith('/') || to.includes('\0') || segments.some((s) => s === '.' || s === '..')) {
    throw new BuildError(
      'LAYER_INVALID',
      `Cannot place layer at "${to}": to must be an absolute image path without "." or ".." segments`,
      { detail: { to } },
    );
  }
  return segments;
}

function normalMode(found: Found, modes: Array<{ glob: SourceGlob; mode: number }>): number {
  if (found.kind === 'symlink') return 0o777;
  const isDirectory = found.kind === 'directory';
  let mode = isDirectory || (Number(found.stat.mode) & 0o111) !== 0 ? 0o755 : 0o644;
  for (const m of modes) if (m.glob.matches(found.rel, isDirectory)) mode = m.mode;
  return mode;
}

function blank(path: string, type: FileEntry['type']): FileEntry {
  return { path, type, mode: 0, uid: 0, gid: 0, size: 0, digest: null, linkname: null, source: null };
}

function checkMode(glob: string, mode: number): number {
  if (Number.isInteger(mode) && mode >= 0 && mode <= 0o7777) return mode;
  throw new BuildError('LAYER_INVALID', `Cannot use mode ${mode} for "${glob}": permission bits are 0 to 0o7777`);
}

function checkId(id: number, what: string): number {
  if (Number.isInteger(id) && id >= 0 && id <= MAX_ID) return id;
  throw new BuildError('LAYER_INVALID', `Cannot own layer files by ${what} ${id}: ids are integers 0 to ${MAX_ID}`);
}

function specialKind(stat: BigIntStats): string {
  if (stat.isSocket()) return 'socket';
  if (stat.isFIFO()) return 'FIFO';
  if (stat.isCharacterDevice()) return 'character device';
  return stat.isBlockDevice() ? 'block device' : 'special file';
}

// A name that is not UTF-8, printable: ASCII as is, other bytes as \xNN.
function escaped(raw: Buffer): string {
  let out = '';
  for (const b of raw) out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}
