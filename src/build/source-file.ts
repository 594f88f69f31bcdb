/**
 * Opening and hashing a layer's regular files. Files are opened with O_NOFOLLOW (a file swapped for a symlink
 * is not followed out of the tree) and O_NONBLOCK (a file swapped for a FIFO does not hang the build), and
 * checked to still be the regular file that was collected.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { constants, type FileHandle, open } from 'node:fs/promises';
import { BuildError, toSourceError } from './build-error.ts';

const CHUNK = 1 << 20;
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Opens `path` for reading; throws SOURCE_CHANGED unless it is (still) a regular file, and `expected` if given. */
export async function openSourceFile(
  path: string,
  expected?: BigIntStats,
): Promise<{ handle: FileHandle; stat: BigIntStats }> {
  let handle: FileHandle;
  try {
    handle = await open(path, FLAGS);
  } catch (err) {
    throw toSourceError(err, path);
  }
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFile() || (expected !== undefined && (stat.ino !== expected.ino || stat.dev !== expected.dev))) {
      throw sourceChangedError(path, 'it was replaced');
    }
    return { handle, stat };
  } catch (err) {
    await handle.close();
    throw err instanceof BuildError ? err : toSourceError(err, path);
  }
}

/** SHA-256 and size of a regular file, checked against its earlier lstat so a file that moves under us fails. */
export async function hashSourceFile(
  path: string,
  expected: BigIntStats,
  options: { signal?: AbortSignal } = {},
): Promise<{ digest: `sha256:${string}`; size: number }> {
  const { handle, stat } = await openSourceFile(path, expected);
  try {
    const hash = createHash('sha256');
    // Sized to the file (+1 to see growth) so thousands of small files do not each allocate a full chunk.
    const buffer = Buffer.allocUnsafe(Math.min(Number(stat.size) + 1, CHUNK));
    let size = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    const after = await handle.stat({ bigint: true });
    if (size !== Number(expected.size) || after.ctimeNs !== stat.ctimeNs || after.mtimeNs !== stat.mtimeNs) {
      throw sourceChangedError(path, 'it was modified while being read');
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  } catch (err) {
    throw err instanceof BuildError || options.signal?.aborted ? err : toSourceError(err, path);
  } finally {
    await handle.close();
  }
}

export function sourceChangedError(path: string, what: string): BuildError {
  return new BuildError('SOURCE_CHANGED', `Cannot package ${path}: ${what} during the build; build again`, {
    detail: { path },
  });
}
