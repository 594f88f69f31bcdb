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
 * - Files get their SHA-256 (the digest the layer is checked against) and their SHA-1 (for the SPDX SBOM),
 *   both from one read. With `digests` (see digest-cache.ts), a file whose stamp the cache vouches for takes
 *   the remembered digests and is not read; every file hashed is recorded there. listLayer hashes nothing: it
 *   returns the files still to hash as pending, for a pack that reads them anyway (pack-entries.ts).
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { BuildError, toSourceError } from './build-error.ts';
import type { DigestCache, FileDigests } from './digest-cache.ts';
import { readSymlinkTarget } from './read-symlink-target.ts';
import { createYielder, type FileStamp, hashSourceFile } from './source-file.ts';
import { compileSourceGlob, type SourceGlob } from './source-glob.ts';
import { type Found, walkSource } from './walk-source.ts';

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
  /** Digests remembered from earlier builds: files whose stamp is unchanged are not read again. */
  digests?: DigestCache;
  /** Sees the content of each file hashed whole (up to 8 MiB), digest set, before its buffer is reused. */
  onContent?: (entry: FileEntry, content: Buffer) => void;
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
  /** SHA-1 of a file's (or hardlink's) content as lowercase hex, for the SBOM; null otherwise. */
  sha1: string | null;
  /** Symlink target text, or the image path a hardlink points at; null otherwise. */
  linkname: string | null;
  /** Where a file's (or hardlink's) content is read on the host (see `sourcePath`); null otherwise. */
  source: SourceRoot | null;
}

/**
 * The host directory of a layer, shared by all its entries: a file's host path is `dir` joined with its image
 * path less the first `skip` characters (the layer's `to`). 90k absolute host paths held ~12 MB until the
 * layer was written; they are made when a file is opened instead.
 */
export interface SourceRoot {
  dir: string;
  skip: number;
}

/** The absolute host path of a file or hardlink entry. */
export function sourcePath(entry: FileEntry): string {
  if (entry.source === null) throw new Error(`Cannot read ${entry.path}: it is a ${entry.type}, not a file`);
  return `${entry.source.dir}/${entry.path.slice(entry.source.skip)}`;
}

const MAX_ID = 0xfffffffe;

/**
 * A file listed whose digests are not known yet: hashed by collectLayer, or as its layer is packed
 * (pack-entries.ts) so that a file read to pack it is not read again to hash it. Until then its entry's
 * digest and sha1 are null and its size is that of `stamp`.
 */
export interface PendingFile {
  entry: FileEntry;
  /** The path relative to the layer source root: what the digest cache knows the file by. */
  rel: string;
  /** What the walk saw: the file read must still be this one (same dev and ino, this size). */
  stamp: FileStamp;
  /** Entries of later paths to the same inode (hardlinks): they take its digests. */
  links: FileEntry[];
}

/** Lists a layer's entries, sorted and normalised, with file digests; see the top of this file for the rules. */
export async function collectLayer(layer: LayerSource, options: CollectOptions = {}): Promise<FileEntry[]> {
  const { entries, pending } = await listLayer(layer, options);
  const pause = createYielder(options.signal);
  for (const file of pending) {
    await pause();
    const hashed = hashSourceFile(sourcePath(file.entry), file.stamp);
    options.digests?.set(file.rel, hashed.stat, { digest: hashed.digest, sha1: hashed.sha1 });
    settlePending(file, hashed);
    if (hashed.content !== null) options.onContent?.(file.entry, hashed.content);
  }
  return entries;
}

/** Gives a pending file, and its hardlinks, the digests of its content. */
export function settlePending(file: PendingFile, digests: FileDigests): void {
  for (const entry of [file.entry, ...file.links]) {
    entry.digest = digests.digest;
    entry.sha1 = digests.sha1;
  }
}

/**
 * Lists a layer's entries as collectLayer does, but hashes no file: those whose digests `options.digests`
 * vouches for take them; the others are returned as pending, in entry order.
 */
export async function listLayer(
  layer: LayerSource,
  options: Omit<CollectOptions, 'onContent'> = {},
): Promise<{ entries: FileEntry[]; pending: PendingFile[]; linked: Array<{ path: string; stamp: FileStamp }> }> {
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
  const pause = createYielder(signal);
  const found = await walkSource(root, { include, exclude, pause });

  const prefix = to.join('/');
  // Image paths sort as their `rel` do: the prefix is common to all, and `to`'s own directories come first.
  sortBytewise(found, (f) => f.rel);
  const source: SourceRoot = { dir: root, skip: prefix === '' ? 0 : prefix.length + 1 };
  const entries: FileEntry[] = to.map((_, i) => ({
    ...blank(to.slice(0, i + 1).join('/'), 'directory'),
    mode: 0o755,
    ...(i === to.length - 1 ? { uid, gid } : {}),
  }));
  const files: Array<{ entry: FileEntry; found: Found }> = [];
  for (const f of found) {
    const entry: FileEntry = {
      ...blank(prefix === '' ? f.rel : `${prefix}/${f.rel}`, f.kind),
      uid,
      gid,
      mode: normalMode(f, modes),
    };
    if (f.kind === 'symlink') entry.linkname = await readSymlinkTarget(root, { host: `${root}/${f.rel}`, rel: f.rel });
    if (f.kind === 'file') {
      entry.source = source;
      files.push({ entry, found: f });
    }
    entries.push(entry);
  }
  found.length = 0; // what files need is in `files`; the rest of the walk can go

  const { contents, links } = findHardlinks(files);
  const linksOf = new Map<FileEntry, FileEntry[]>();
  for (const { entry, target } of links) {
    const others = linksOf.get(target);
    if (others === undefined) linksOf.set(target, [entry]);
    else others.push(entry);
  }
  const pending: PendingFile[] = [];
  // Files with several links, whose content can change through a path outside this tree (build-memo.ts).
  const linked: Array<{ path: string; stamp: FileStamp }> = [];
  for (const { entry, found: f } of contents) {
    if (f.inode !== null) linked.push({ path: `${root}/${f.rel}`, stamp: f.stamp! });
    const file: PendingFile = { entry, rel: f.rel, stamp: f.stamp!, links: linksOf.get(entry) ?? [] };
    for (const e of [entry, ...file.links]) e.size = Number(file.stamp.size);
    const known = options.digests?.get(f.rel, file.stamp) ?? null;
    if (known === null) pending.push(file);
    else settlePending(file, known);
  }
  return { entries, pending, linked };
}

// UTF-8 byte order. JavaScript compares UTF-16 code units, which agrees with it unless a string holds a
// surrogate or a code unit at or above U+E000; only then are the bytes compared.
function sortBytewise<T>(items: T[], keyOf: (item: T) => string): void {
  if (!items.some((item) => /[\uD800-\uFFFF]/.test(keyOf(item)))) {
    items.sort((a, b) => {
      const x = keyOf(a);
      const y = keyOf(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    return;
  }
  const keys = new Map(items.map((item) => [item, Buffer.from(keyOf(item))]));
  items.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!));
}

// Turns later paths of a shared inode into hardlinks: the bytewise-first path (with one mode) keeps the content.
function findHardlinks<F extends { entry: FileEntry; found: Found }>(
  sorted: F[],
): { contents: F[]; links: Array<{ entry: FileEntry; target: FileEntry }> } {
  const firsts = new Map<string, FileEntry>();
  const contents: F[] = [];
  const links: Array<{ entry: FileEntry; target: FileEntry }> = [];
  for (const file of sorted) {
    const { entry, found } = file;
    const key = found.inode === null ? null : `${found.inode}:${entry.mode}`;
    const first = key === null ? undefined : firsts.get(key);
    if (first === undefined) {
      if (key !== null) firsts.set(key, entry);
      contents.push(file);
    } else {
      entry.type = 'hardlink';
      entry.linkname = first.path;
      links.push({ entry, target: first });
    }
  }
  return { contents, links };
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
  let mode = isDirectory || found.executable ? 0o755 : 0o644;
  for (const m of modes) if (m.glob.matches(found.rel, isDirectory)) mode = m.mode;
  return mode;
}

function blank(path: string, type: FileEntry['type']): FileEntry {
  return { path, type, mode: 0, uid: 0, gid: 0, size: 0, digest: null, sha1: null, linkname: null, source: null };
}

function checkMode(glob: string, mode: number): number {
  if (Number.isInteger(mode) && mode >= 0 && mode <= 0o7777) return mode;
  throw new BuildError('LAYER_INVALID', `Cannot use mode ${mode} for "${glob}": permission bits are 0 to 0o7777`);
}

function checkId(id: number, what: string): number {
  if (Number.isInteger(id) && id >= 0 && id <= MAX_ID) return id;
  throw new BuildError('LAYER_INVALID', `Cannot own layer files by ${what} ${id}: ids are integers 0 to ${MAX_ID}`);
}
