/**
 * The walk of a layer's source directory: entries found without following symlinks, include/exclude applied
 * (an excluded directory is not descended into), each lstat cut down to what the layer needs as it is made.
 * Names that are not UTF-8 are NAME_INVALID; sockets, FIFOs and devices SOURCE_UNSUPPORTED.
 */
import { isUtf8 } from 'node:buffer';
import { type BigIntStats, lstatSync, readdirSync } from 'node:fs';
import { BuildError, toSourceError } from './build-error.ts';
import type { FileStamp } from './source-file.ts';
import type { SourceGlob } from './source-glob.ts';

// What the walk keeps of an entry's lstat: 90k BigIntStats would hold ~50 MB until the layer is collected.
// The host path is not kept: it is the layer root joined with `rel`.
export interface Found {
  rel: string;
  kind: 'file' | 'directory' | 'symlink';
  /** Whether any execute bit is set. */
  executable: boolean;
  /** Files: what identifies this version of the file. */
  stamp: FileStamp | null;
  /** Files with more than one link: `dev:ino`, what the other paths to the same content share. */
  inode: string | null;
}

/**
 * Directories at the top of a layer's `from` that a layer without `include` leaves out: git's metadata (its
 * packs and index differ from clone to clone, so an image holding them is not reproducible, and they hold the
 * whole history) and a Fixity data dir (`fixity up`'s database and blobs). An `include` that names them
 * packages them.
 */
export const ALWAYS_LEFT_OUT: ReadonlySet<string> = new Set(['.git', '.fixity']);

// Synchronous reads, like source-file.ts: per-call thread-pool round trips cost more than the calls.
export async function walkSource(
  root: string,
  rules: { include: SourceGlob[]; exclude: SourceGlob[]; pause: () => Promise<void> | undefined },
): Promise<Found[]> {
  const out: Found[] = [];
  // Returns whether anything below `dirHost` was kept, so a directory is kept when it holds kept entries.
  const visit = async (dirHost: string, dirRel: string, included: boolean): Promise<boolean> => {
    await rules.pause();
    let names: string[];
    try {
      names = readdirSync(dirHost);
      // A name that is not UTF-8 comes back with U+FFFD in it; only then are the raw bytes asked for.
      if (names.some((n) => n.includes('\uFFFD'))) names = checkedNames(dirHost);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw toSourceError(err, dirHost, 'read directory');
    }
    // Each lstat is cut down to what the loop needs as soon as it is made: the loop awaits whole subtrees, and
    // full BigIntStats kept for every sibling of every open directory outlived young-generation collections.
    const children = names.map((name) => {
      const host = `${dirHost}/${name}`;
      try {
        return { name, ...lstatInfo(lstatSync(host, { bigint: true })) };
      } catch (err) {
        throw toSourceError(err, host, 'inspect');
      }
    });
    let kept = false;
    for (const child of children) {
      // A layer that takes everything still leaves out the top's version-control and Fixity data dirs.
      if (dirRel === '' && rules.include.length === 0 && ALWAYS_LEFT_OUT.has(child.name)) continue;
      const rel = dirRel === '' ? child.name : `${dirRel}/${child.name}`;
      const isDirectory = child.kind === 'directory';
      if (rules.exclude.some((g) => g.matches(rel, isDirectory))) continue;
      const inc = included || rules.include.some((g) => g.matches(rel, isDirectory));
      if (isDirectory) {
        const descend = inc || rules.include.some((g) => g.couldMatchBelow(rel));
        if ((descend && (await visit(`${dirHost}/${child.name}`, rel, inc))) || inc) {
          out.push({ rel, kind: 'directory', executable: true, stamp: null, inode: null });
          kept = true;
        }
        continue;
      }
      if (!inc) continue;
      if (child.kind === 'special') {
        const host = `${dirHost}/${child.name}`;
        throw new BuildError(
          'SOURCE_UNSUPPORTED',
          `Cannot package ${host}: it is a ${child.special}; a layer holds only files, directories and symlinks (exclude it)`,
          { detail: { path: host } },
        );
      }
      out.push({ rel, kind: child.kind, executable: child.executable, stamp: child.stamp, inode: child.inode });
      kept = true;
    }
    return kept;
  };
  await visit(root, '', rules.include.length === 0);
  return out;
}

// What the walk keeps of one lstat.
function lstatInfo(
  stat: BigIntStats,
): Omit<Found, 'rel' | 'kind'> & { kind: Found['kind'] | 'special'; special: string } {
  if (!stat.isFile()) {
    const kind = stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : 'special';
    return { kind, executable: true, stamp: null, inode: null, special: kind === 'special' ? specialKind(stat) : '' };
  }
  const { dev, ino, size, mtimeNs, ctimeNs } = stat;
  return {
    kind: 'file',
    executable: (Number(stat.mode) & 0o111) !== 0,
    stamp: { dev, ino, size, mtimeNs, ctimeNs },
    inode: stat.nlink > 1n ? `${dev}:${ino}` : null,
    special: '',
  };
}

/**
 * The names in `dir` read as bytes: NAME_INVALID for the first that is not UTF-8. (Reading names as strings
 * turns such bytes into U+FFFD, which a valid name may also hold.)
 */
function checkedNames(dir: string): string[] {
  return readdirSync(dir, { encoding: 'buffer' }).map((raw) => {
    if (!isUtf8(raw)) {
      throw new BuildError(
        'NAME_INVALID',
        `Cannot package ${dir}/${escaped(raw)}: its name is not valid UTF-8; rename it`,
        {
          detail: { path: `${dir}/${escaped(raw)}` },
        },
      );
    }
    return raw.toString('utf8');
  });
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
