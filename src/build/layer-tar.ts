/**
 * Turns collected entries into one OCI layer blob, byte-identical for the same entries, mtime, compression
 * and Node/zlib version.
 *
 * - Tar: see pack-entries.ts (USTAR, PAX only when needed, fixed mtime, empty uname/gname, directories with a
 *   trailing `/`, hardlinks as typeflag 1, symlink targets verbatim, files re-hashed as they stream in).
 * - Compression: see block-compressor.ts (gzip as independent 1 MiB members compressed in parallel, zstd
 *   level 3, or none). The diffId (sha256 of the tar) is the portable identity; the blob digest also pins the
 *   compressor, so it is reproducible for one Node major (zlib build), not across toolchains.
 * - Memory is bounded by the compressor's window of blocks; the tar is never held whole.
 * - The blob is written to a temporary name beside `out` and renamed into place only when complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { MEDIA_TYPES } from '../oci/index.ts';
import { type Compression, createBlockCompressor } from './block-compressor.ts';
import { BuildError } from './build-error.ts';
import { collectGarbage, LARGE_GARBAGE } from './collect-garbage.ts';
import { type PackOptions, packEntries } from './pack-entries.ts';
import type { FileEntry, PendingFile } from './source-tree.ts';

export interface LayerOptions {
  /** SOURCE_DATE_EPOCH in seconds: the mtime of every entry. */
  mtime: number;
  compression: Compression;
  /** The compression level (block-compressor.ts COMPRESSION_LEVELS; default the compression's own). */
  level?: number;
  /** Path of the blob to write. */
  out: string;
  signal?: AbortSignal;
  onProgress?: (progress: { files: number; bytesIn: number; bytesOut: number }) => void;
  /** Files listed without digests, hashed as they are packed (see pack-entries.ts). */
  pending?: ReadonlyMap<FileEntry, PendingFile>;
  onHashed?: PackOptions['onHashed'];
}

export interface LayerResult {
  /** Digest of the blob as written (compressed). */
  digest: `sha256:${string}`;
  size: number;
  /** Digest of the uncompressed tar, as listed in the image config's rootfs.diff_ids. */
  diffId: `sha256:${string}`;
  uncompressedSize: number;
  mediaType: string;
}

/** diff_id of a layer with no entries: 1024 zero bytes, the tar end-of-archive marker. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

const MEDIA_TYPE: Record<Compression, string> = {
  gzip: MEDIA_TYPES.layerGzip,
  zstd: MEDIA_TYPES.layerZstd,
  none: MEDIA_TYPES.layerTar,
};
const MAX_MTIME = 2 ** 31 - 1; // tar-stream writes mtime as a signed 32-bit number of seconds

/** Writes `entries` (sorted, as from collectLayer) as a layer blob at `options.out`. */
export async function writeLayer(entries: readonly FileEntry[], options: LayerOptions): Promise<LayerResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  checkInput(entries, options);
  const tmp = `${options.out}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let handle: FileHandle;
  try {
    handle = await open(tmp, 'wx');
  } catch (err) {
    throw failed(options.out, err);
  }
  const progress = { files: 0, bytesIn: 0, bytesOut: 0 };
  const blobHash = options.compression === 'none' ? null : createHash('sha256'); // else the blob is the tar
  const tarHash = createHash('sha256');
  const compressor = createBlockCompressor(options.compression, {
    ...(options.level === undefined ? {} : { level: options.level }),
    output: async (bytes) => {
      signal?.throwIfAborted();
      blobHash?.update(bytes);
      for (let offset = 0; offset < bytes.byteLength; ) {
        offset += (await handle.write(bytes, offset, bytes.byteLength - offset)).bytesWritten;
      }
      progress.bytesOut += bytes.byteLength;
      // zlib's output pieces, written and dropped, wait outside the heap for a full collection
      if (
        Math.floor(progress.bytesOut / LARGE_GARBAGE) >
        Math.floor((progress.bytesOut - bytes.byteLength) / LARGE_GARBAGE)
      )
        collectGarbage();
      options.onProgress?.({ ...progress });
    },
  });
  let failure: { error: unknown } | null = null;
  try {
    await packEntries(entries, {
      mtime: options.mtime,
      ...(signal ? { signal } : {}),
      ...(options.pending ? { pending: options.pending } : {}),
      ...(options.onHashed ? { onHashed: options.onHashed } : {}),
      onEntry: () => progress.files++,
      output: async (chunk) => {
        tarHash.update(chunk);
        progress.bytesIn += chunk.byteLength;
        await compressor.write(chunk);
      },
    });
    await compressor.end();
  } catch (error) {
    failure = { error };
    compressor.destroy();
  }
  try {
    signal?.throwIfAborted(); // also when the abort came after the last byte: the caller asked to stop
    if (failure !== null) throw (failure as { error: unknown }).error;
    await handle.close();
    await rename(tmp, options.out);
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err instanceof BuildError || signal?.aborted ? err : failed(options.out, err);
  }
  options.onProgress?.({ ...progress });
  const diffId = `sha256:${tarHash.digest('hex')}` as const;
  return {
    digest: blobHash === null ? diffId : `sha256:${blobHash.digest('hex')}`,
    size: progress.bytesOut,
    diffId,
    uncompressedSize: progress.bytesIn,
    mediaType: MEDIA_TYPE[options.compression],
  };
}

function checkInput(entries: readonly FileEntry[], options: LayerOptions): void {
  if (!Number.isInteger(options.mtime) || options.mtime < 0 || options.mtime > MAX_MTIME) {
    throw new BuildError(
      'LAYER_INVALID',
      `Cannot write layer with mtime ${options.mtime}: use whole seconds 0 to ${MAX_MTIME}`,
    );
  }
  if (!(options.compression in MEDIA_TYPE)) {
    throw new BuildError('LAYER_INVALID', `Cannot compress layer as "${options.compression}": use gzip, zstd or none`);
  }
  let previous: Buffer | null = null;
  for (const entry of entries) {
    const key = Buffer.from(entry.path);
    const bad =
      previous !== null && Buffer.compare(previous, key) >= 0
        ? 'entries are not sorted bytewise by path, or repeat one'
        : entry.path === '' ||
            entry.path.startsWith('/') ||
            entry.path.endsWith('/') ||
            entry.path.split('/').includes('..')
          ? 'the path must be relative, without ".." or a trailing slash'
          : entry.type === 'file' &&
              ((entry.digest === null && options.pending?.has(entry) !== true) || entry.source === null)
            ? 'a file needs its digest (or to be pending) and its source'
            : (entry.type === 'symlink' || entry.type === 'hardlink') && !entry.linkname
              ? 'a link needs its linkname'
              : null;
    if (bad !== null) {
      throw new BuildError('LAYER_INVALID', `Cannot write layer entry "${entry.path}": ${bad}`, {
        detail: { path: entry.path },
      });
    }
    previous = key;
  }
}

function failed(out: string, err: unknown): BuildError {
  return new BuildError('LAYER_FAILED', `Cannot write layer ${out}: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  });
}
