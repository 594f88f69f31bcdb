/**
 * Writes FileEntry records as a deterministic tar stream (headers: see tar-header.ts):
 *
 * - USTAR headers, PAX only when a name or linkname does not fit or the name is not ASCII (`path`,
 *   `linkpath`), or an id or size overflows the ustar field (`gid`, `size`, `uid`, in that order). No
 *   atime/ctime records, no global headers.
 * - mtime is the given SOURCE_DATE_EPOCH for every entry; uid/gid come from the entry; uname/gname are empty.
 * - Directories are named with a trailing `/`; hardlinks are typeflag 1 with size 0 and linkname = the first
 *   path of the inode; symlinks keep their target text.
 * - Each file is re-read and re-hashed on its way into the tar: content that no longer matches the collected
 *   digest or size fails with SOURCE_CHANGED naming the file, and the layer is discarded.
 * - A file not hashed yet (`pending`, see source-tree.ts) is hashed from the bytes read to pack it, so it is
 *   read once: it must still be the file listed, unchanged (dev, ino, size, mtime, ctime; checkUnchanged).
 *
 * The tar is assembled in one staging buffer that files are read straight into, and handed to `output` a
 * buffer at a time; `output` must be done with the bytes when its promise settles.
 */
import { createHash, type Hash, hash } from 'node:crypto';
import { type BigIntStats, closeSync } from 'node:fs';
import { checkUnchanged, createYielder, openSourceFile, readChunk, sourceChangedError } from './source-file.ts';
import { type FileEntry, type PendingFile, settlePending, sourcePath } from './source-tree.ts';
import { BLOCK, encodeTarHeader } from './tar-header.ts';

const STAGING = 1 << 20;
const USTAR_ID_MAX = 0o777777;
const USTAR_SIZE_MAX = 0o77777777777;
const TAR_TYPE = { file: 'file', hardlink: 'link', directory: 'directory', symlink: 'symlink' } as const;

/** Whether a file of `size` bytes is read whole, in one piece that `onHashed` sees as its content. */
export function packsWhole(size: number): boolean {
  return size + 1 <= STAGING;
}

export interface PackOptions {
  mtime: number;
  output: (bytes: Buffer) => Promise<void>;
  signal?: AbortSignal;
  onEntry?: () => void;
  /** Files listed without digests (their entries' digest is null), to hash as they are packed. */
  pending?: ReadonlyMap<FileEntry, PendingFile>;
  /**
   * Sees each pending file once its digests are set: the stat it was read at, and its content when it was
   * read whole (a view valid only during the call).
   */
  onHashed?: (file: PendingFile, read: { stat: BigIntStats; content: Buffer | null }) => void;
}

/** Writes `entries` as a tar, in order, through `output`, ending with the end-of-archive blocks. */
export async function packEntries(entries: readonly FileEntry[], options: PackOptions): Promise<void> {
  const staging = Buffer.allocUnsafe(STAGING);
  let used = 0;
  const flush = async () => {
    if (used === 0) return;
    await options.output(staging.subarray(0, used));
    used = 0;
  };
  // Zeros (padding, end of archive) need not be staged from anywhere.
  const zeros = async (count: number) => {
    if (used + count > STAGING) await flush();
    staging.fill(0, used, used + count);
    used += count;
  };
  const pause = createYielder(options.signal);

  // Streams a file through the staging buffer; whole when it fits, so small files cost one read and one hash.
  const packFile = async (entry: FileEntry) => {
    const path = sourcePath(entry);
    const unhashed = entry.digest === null ? options.pending?.get(entry) : undefined;
    if (entry.digest === null && unhashed === undefined) throw new Error(`${entry.path} has no digest to check`);
    const fd = openSourceFile(path);
    try {
      if (entry.size + 1 > STAGING - used && packsWhole(entry.size)) await flush();
      let total: number;
      let digest: string;
      let sha1: string | null = null;
      let content: Buffer | null = null;
      if (entry.size + 1 <= STAGING - used) {
        // One byte more than expected is asked for, to notice a file that grew.
        total = readChunk(fd, path, staging, used, entry.size + 1);
        if (total > entry.size) throw sourceChangedError(path, `it grew past ${entry.size} bytes`);
        content = staging.subarray(used, used + total);
        digest = hash('sha256', content);
        if (unhashed !== undefined) sha1 = hash('sha1', content);
        used += total;
      } else {
        const running = createHash('sha256');
        const runningSha1: Hash | null = unhashed === undefined ? null : createHash('sha1');
        total = 0;
        for (;;) {
          if (used === STAGING) await flush();
          const ask = Math.min(STAGING - used, entry.size - total + 1);
          const n = readChunk(fd, path, staging, used, ask);
          running.update(staging.subarray(used, used + n));
          runningSha1?.update(staging.subarray(used, used + n));
          used += n;
          total += n;
          if (total > entry.size) throw sourceChangedError(path, `it grew past ${entry.size} bytes`);
          if (n < ask) break;
          await pause();
        }
        digest = running.digest('hex');
        sha1 = runningSha1?.digest('hex') ?? null;
      }
      if (total < entry.size) throw sourceChangedError(path, `it shrank from ${entry.size} to ${total} bytes`);
      if (unhashed === undefined) {
        if (`sha256:${digest}` !== entry.digest) throw sourceChangedError(path, 'its content changed');
      } else {
        const stat = checkUnchanged(fd, path, unhashed.stamp, total);
        settlePending(unhashed, { digest: `sha256:${digest}`, sha1: sha1! });
        options.onHashed?.(unhashed, { stat, content });
      }
    } finally {
      closeSync(fd);
    }
    await zeros((BLOCK - (entry.size % BLOCK)) % BLOCK);
  };

  for (const entry of entries) {
    await pause();
    const size = entry.type === 'file' ? entry.size : 0;
    const pax: Record<string, string> = {};
    if (entry.gid > USTAR_ID_MAX) pax.gid = String(entry.gid);
    if (size > USTAR_SIZE_MAX) pax.size = String(size);
    if (entry.uid > USTAR_ID_MAX) pax.uid = String(entry.uid);
    const header = encodeTarHeader({
      name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
      type: TAR_TYPE[entry.type],
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size,
      mtime: options.mtime,
      linkname: entry.linkname,
      pax: Object.keys(pax).length > 0 ? pax : null,
    });
    if (used + header.byteLength > STAGING) await flush();
    header.copy(staging, used);
    used += header.byteLength;
    if (entry.type === 'file') await packFile(entry);
    options.onEntry?.();
  }
  await zeros(2 * BLOCK);
  await flush();
}
