/**
 * Opening and reading a layer's regular files. Files are opened with O_NOFOLLOW (a file swapped for a symlink
 * is not followed out of the tree) and O_NONBLOCK (a file swapped for a FIFO does not hang the build). What was
 * read is checked afterwards, with no fstat before it: against the file's stamp from the walk when it is hashed
 * (one fstat after the read covers a file replaced or changed since it was listed and one changed while it
 * was read), or against its digest when it is packed again. Each fstat saved is ~3 µs of 90k files on this VM.
 *
 * The calls are synchronous on purpose: a layer is mostly small files, and one thread-pool round trip per
 * open, fstat, read and close costs several times the work itself (88k node_modules files: ~1.5–2 s
 * synchronous, ~5 s through fs/promises). The build has nothing else to do meanwhile; callers hand the event
 * loop back every few milliseconds through `createYielder`, where they also check their abort signal.
 */
import { createHash, hash } from 'node:crypto';
import { type BigIntStats, closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { BuildError, toSourceError } from './build-error.ts';

/** What identifies one version of a file without reading it, as git's index does. */
export type FileStamp = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>;

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CHUNK = 1 << 20;
const WHOLE = 8 << 20;
const YIELD_EVERY_MS = 10;
// One scratch buffer: every use below is synchronous, so no two callers can hold it at once. Files above
// CHUNK are read whole into `large`, which grows to the biggest such file (at most WHOLE + 1) and is reused:
// a fresh buffer per file left tens of MB of dead external memory waiting for a full garbage collection.
const scratch = Buffer.allocUnsafe(CHUNK);
let large = Buffer.alloc(0);

/** Opens `path` for reading (SOURCE_CHANGED when it is gone or a symlink now); returns the descriptor. */
export function openSourceFile(path: string): number {
  try {
    return openSync(path, FLAGS);
  } catch (err) {
    throw toSourceError(err, path);
  }
}

/**
 * After `read` bytes of `fd` were read: returns its stat, or throws SOURCE_CHANGED unless it is still the
 * regular file the walk saw (`expected`: same dev, ino, size, mtime and ctime) and `read` is its size.
 */
export function checkUnchanged(fd: number, path: string, expected: FileStamp, read: number): BigIntStats {
  let stat: BigIntStats;
  try {
    stat = fstatSync(fd, { bigint: true });
  } catch (err) {
    throw toSourceError(err, path);
  }
  if (!stat.isFile() || stat.ino !== expected.ino || stat.dev !== expected.dev) {
    throw sourceChangedError(path, 'it was replaced');
  }
  if (BigInt(read) !== expected.size || stat.size !== expected.size) {
    throw sourceChangedError(path, `its size changed from ${expected.size} bytes`);
  }
  if (stat.mtimeNs !== expected.mtimeNs || stat.ctimeNs !== expected.ctimeNs) {
    throw sourceChangedError(path, 'it was modified');
  }
  return stat;
}

/**
 * One read from `fd` into `buffer[offset, offset + length)`; returns the count. For a regular file a short count
 * means its end, so a small file costs one read, not a second one to see the end. Callers check the count
 * against the size they expect.
 */
export function readChunk(fd: number, path: string, buffer: Buffer, offset: number, length: number): number {
  try {
    return readSync(fd, buffer, offset, length, null);
  } catch (err) {
    throw toSourceError(err, path);
  }
}

/**
 * SHA-256 (the OCI digest) and SHA-1 (SPDX 2.3 requires one per file) and size of a regular file, both hashes
 * fed from one read, checked against its lstat from the walk (checkUnchanged), so a file replaced or changed
 * since, or while being read, fails. Returns the stat of what was read, to remember the digests by, and the
 * content itself when it was read whole (files up to 8 MiB): a view that is valid only until the next call.
 */
export function hashSourceFile(
  path: string,
  expected: FileStamp,
): { digest: `sha256:${string}`; sha1: string; size: number; stat: BigIntStats; content: Buffer | null } {
  const fd = openSourceFile(path);
  try {
    const wanted = Number(expected.size) + 1; // one byte more, to see a file that grew
    let size = 0;
    let digest: string;
    let sha1: string;
    let content: Buffer | null = null;
    if (wanted <= WHOLE) {
      if (wanted > scratch.length && wanted > large.length) large = Buffer.allocUnsafe(wanted);
      const buffer = wanted <= scratch.length ? scratch : large;
      for (let asked = wanted; asked > 0; ) {
        const n = readChunk(fd, path, buffer, size, asked);
        size += n;
        asked = n < asked ? 0 : wanted - size; // a short read is the end
      }
      content = buffer.subarray(0, size);
      // One shot each: most files are small, and two one-shot hashes of a buffer in cache beat two Hash
      // objects (19k files, 131 MB: 147 ms against 161 ms; SHA-256 alone 76 ms).
      digest = hash('sha256', content);
      sha1 = hash('sha1', content);
    } else {
      const running = createHash('sha256');
      const runningSha1 = createHash('sha1');
      // Up to one byte past the listed size: a file that grew fails without being read to its end.
      for (let n = CHUNK; n === CHUNK && size < wanted; size += n) {
        n = readChunk(fd, path, scratch, 0, Math.min(CHUNK, wanted - size));
        running.update(scratch.subarray(0, n));
        runningSha1.update(scratch.subarray(0, n));
      }
      digest = running.digest('hex');
      sha1 = runningSha1.digest('hex');
    }
    const stat = checkUnchanged(fd, path, expected, size);
    return { digest: `sha256:${digest}`, sha1, size, stat, content };
  } finally {
    closeSync(fd);
  }
}

/**
 * Returns a function to await between pieces of synchronous work: it throws if `signal` has aborted and,
 * once `YIELD_EVERY_MS` have passed, lets the event loop run (timers, signals, finished compression jobs).
 */
export function createYielder(signal?: AbortSignal): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    signal?.throwIfAborted();
    if (performance.now() - last < YIELD_EVERY_MS) return undefined;
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        last = performance.now();
        resolve();
      });
    }).then(() => signal?.throwIfAborted());
  };
}

export function sourceChangedError(path: string, what: string): BuildError {
  return new BuildError('SOURCE_CHANGED', `Cannot package ${path}: ${what} during the build; build again`, {
    detail: { path },
  });
}
