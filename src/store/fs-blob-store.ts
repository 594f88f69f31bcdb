import type { Hash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, type DigestAlgorithm, DigestError, isDigest, newId, parseDigest } from '../core/index.ts';
import { fillDurably, hashFile, matches, mismatch, once, READ_BUFFER, sendFile, syncDir, writeAll } from './blob-io.ts';
import { createCoalescedSync } from './group-commit.ts';
import { createKeyedMutex } from './keyed-mutex.ts';
import { StoreError } from './store-error.ts';

/** Content-addressed blobs on local disk, and the upload sessions that fill them. */
export interface BlobStore {
  stat(digest: Digest): Promise<{ size: number; mtime: Date } | null>;
  read(digest: Digest, range?: { start: number; end: number }): ReadStream;
  /**
   * Writes bytes `start`..`end` (inclusive) of the blob to `sink`, calling `ready` once the file is open and
   * before the first byte; resolves false, without calling `ready`, when the blob is not stored. Buffers are
   * reused: the sink must be done with a chunk once its write callback runs, as a socket is.
   */
  send(digest: Digest, sink: Writable, range: { start: number; end: number }, ready: () => void): Promise<boolean>;
  /** Removes the blob's file under the blob's lock, after `decide` (e.g. a database delete) agrees. */
  remove(digest: Digest, decide: () => Promise<boolean>): Promise<boolean>;
  list(): AsyncIterable<{ digest: Digest; size: number; mtime: Date }>;
  /** Stores a whole blob held in memory (a single-request upload), then runs `commit` as finish() does. */
  put<T>(digest: Digest, bytes: Uint8Array, commit: (size: number) => Promise<T>): Promise<T>;
  uploads: UploadStore;
}

export interface UploadStore {
  /** Creates an empty upload session and returns its id. */
  create(): Promise<string>;
  /** Current size, or null when the session does not exist (never started, finished, cancelled or expired). */
  size(id: string): Promise<number | null>;
  /** Appends `source` at `offset` (which must equal the current size); returns the new size. */
  append(id: string, offset: number, source: AsyncIterable<Uint8Array>, options?: AppendOptions): Promise<number>;
  /**
   * Verifies the session's bytes hash to `digest`, makes them durable (fsync file, rename, fsync directory)
   * as the blob, then runs `commit` while still holding the blob's lock so garbage collection cannot
   * interleave. A digest mismatch removes the session.
   */
  finish<T>(id: string, digest: Digest, commit: (size: number) => Promise<T>): Promise<T>;
  /** Appends `bytes` (the last chunk, held in memory) and finishes; an empty session is written only once. */
  finishWith<T>(id: string, digest: Digest, bytes: Uint8Array, commit: (size: number) => Promise<T>): Promise<T>;
  cancel(id: string): Promise<boolean>;
  list(): AsyncIterable<{ id: string; size: number; mtime: Date }>;
}

export interface AppendOptions {
  signal?: AbortSignal;
  /** Maximum total size of the upload; exceeding it fails with SIZE_INVALID. */
  maxSize?: number;
}

const ID = /^[A-Za-z0-9_-]{16,64}$/;
const WRITE_BATCH = 1024 * 1024;
const WRITES_IN_FLIGHT = 4;
// Large uploads start flushing to disk while they stream, so the fsync before acknowledging is short.
const EARLY_SYNC_BYTES = 16 * 1024 * 1024;

/** Creates a BlobStore rooted at `root` (`root/blobs/<alg>/<hex>`, uploads in `root/uploads`). */
export async function createFsBlobStore(root: string): Promise<BlobStore> {
  const blobsDir = join(root, 'blobs');
  const uploadsDir = join(root, 'uploads');
  for (const alg of ['sha256', 'sha512']) await mkdir(join(blobsDir, alg), { recursive: true });
  await mkdir(uploadsDir, { recursive: true });
  const withLock = createKeyedMutex();
  // Renames into one directory share fsyncs of it (each caller waits for one that began after its rename).
  const dirSyncs = {
    sha256: createCoalescedSync(() => syncDir(join(blobsDir, 'sha256'))),
    sha512: createCoalescedSync(() => syncDir(join(blobsDir, 'sha512'))),
  };
  // Running hashes of open sessions; after a restart a session is re-hashed from its file on finish.
  const hashes = new Map<string, { algorithm: DigestAlgorithm; hash: Hash; size: number }>();

  const blobPath = (digest: Digest) => {
    const { algorithm, hex } = parseDigest(digest);
    return join(blobsDir, algorithm, hex);
  };
  const uploadPath = (id: string) => {
    if (!ID.test(id))
      throw new StoreError('BLOB_UPLOAD_UNKNOWN', `Cannot find upload "${id.slice(0, 80)}": not an upload id`);
    return join(uploadsDir, id);
  };
  const sizeOf = async (path: string) => {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };

  const uploads: UploadStore = {
    async create() {
      const id = newId(18);
      // On the thread pool: creating a file waits for the journal while other uploads' fsyncs commit it
      // (~0.2 ms per create at 900 small pushes/s), which inline would stall every other request.
      await (await open(uploadPath(id), 'wx', 0o600)).close();
      return id;
    },
    // async, so a malformed id rejects like every other call instead of throwing synchronously
    size: async (id) => sizeOf(uploadPath(id)),
    append: (id, offset, source, options = {}) => withLock(`upload:${id}`, () => append(id, offset, source, options)),
    finish: (id, digest, commit) => withLock(`upload:${id}`, () => finish(id, digest, commit)),
    finishWith: (id, digest, bytes, commit) => withLock(`upload:${id}`, () => finishWith(id, digest, bytes, commit)),
    cancel: (id) => cancelUpload(id),
    async *list() {
      for (const id of await readdir(uploadsDir)) {
        if (!ID.test(id)) continue;
        const st = await stat(join(uploadsDir, id)).catch(() => null);
        if (st !== null) yield { id, size: st.size, mtime: st.mtime };
      }
    },
  };

  async function append(
    id: string,
    offset: number,
    source: AsyncIterable<Uint8Array>,
    options: AppendOptions,
  ): Promise<number> {
    const { signal, maxSize = Number.POSITIVE_INFINITY } = options;
    const path = uploadPath(id);
    const current = await sizeOf(path);
    if (current === null)
      throw new StoreError('BLOB_UPLOAD_UNKNOWN', `Cannot append to upload "${id}": it does not exist`);
    if (current !== offset)
      throw new StoreError('CONFLICT', `Cannot append at ${offset}: the upload holds ${current} bytes`);
    let state = hashes.get(id);
    if (state === undefined || state.size !== current) {
      state = { algorithm: 'sha256', hash: await hashFile(path, 'sha256'), size: current };
      hashes.set(id, state);
    }
    const s = state;
    const startSize = s.size;
    let size = current;
    // Chunks are gathered into batches of WRITE_BATCH bytes and written with writev at explicit positions,
    // up to WRITES_IN_FLIGHT batches in flight while the next fills (a slow write does not stop the reading).
    // Every write is settled before the catch below runs, so the truncate really restores the old size. (A
    // WriteStream would keep the handle busy, and on error would close the descriptor itself before the truncate.)
    const fh = await open(path, 'r+');
    const writes: Promise<void>[] = [];
    let syncing: Promise<void> | null = null;
    let unsynced = 0;
    try {
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      let position = offset;
      const flush = async () => {
        if (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
        const buffers = batch;
        const at = position;
        position += batchBytes;
        batch = [];
        batchBytes = 0;
        const written = writeAll(fh, buffers, at);
        written.catch(() => undefined); // rejects where it is awaited
        writes.push(written);
        unsynced += at === position ? 0 : position - at;
        if (unsynced >= EARLY_SYNC_BYTES && syncing === null) {
          unsynced = 0;
          // A failed sync stays in `syncing` (no new one starts) and fails the append where it is awaited:
          // after an fsync error Linux forgets it, so the fsync in finish could succeed over lost pages.
          const before = Promise.all(writes);
          const started = (async () => {
            await before;
            await fh.datasync();
          })();
          syncing = started;
          started.then(
            () => {
              if (syncing === started) syncing = null;
            },
            () => undefined,
          );
        }
      };
      await pipeline(
        source,
        async (chunks: AsyncIterable<Uint8Array>) => {
          for await (const chunk of chunks) {
            signal?.throwIfAborted();
            if (size + chunk.byteLength > maxSize)
              throw new StoreError('SIZE_INVALID', `Cannot accept upload: it exceeds ${maxSize} bytes`);
            size += chunk.byteLength;
            s.hash.update(chunk);
            batch.push(chunk);
            batchBytes += chunk.byteLength;
            if (batchBytes >= WRITE_BATCH) await flush();
          }
          if (batchBytes > 0) await flush();
          await Promise.all(writes);
          await syncing;
        },
        signal === undefined ? {} : { signal },
      );
      s.size = size;
    } catch (err) {
      // A failed append leaves the session as it was, so the client can retry the chunk.
      await Promise.allSettled(writes);
      await (syncing as Promise<void> | null)?.catch(() => undefined);
      hashes.delete(id);
      await fh.truncate(startSize).catch(() => undefined);
      throw err;
    } finally {
      await fh.close();
    }
    return size;
  }

  async function finish<T>(id: string, digest: Digest, commit: (size: number) => Promise<T>): Promise<T> {
    const path = uploadPath(id);
    const size = await sizeOf(path);
    if (size === null) throw new StoreError('BLOB_UPLOAD_UNKNOWN', `Cannot finish upload "${id}": it does not exist`);
    const { algorithm } = parseDigest(digest);
    const state = hashes.get(id);
    const hash =
      state !== undefined && state.size === size && state.algorithm === algorithm
        ? state.hash
        : await hashFile(path, algorithm);
    const actual = `${algorithm}:${hash.copy().digest('hex')}`;
    if (actual !== digest) {
      hashes.delete(id);
      await rm(path, { force: true });
      throw new DigestError('DIGEST_MISMATCH', `Cannot accept blob: its content hashes to ${actual}, not ${digest}`);
    }
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const target = blobPath(digest);
    return withLock(digest, async () => {
      if ((await sizeOf(target)) === size) await unlink(path);
      else {
        await rename(path, target);
        await dirSyncs[algorithm]();
      }
      hashes.delete(id);
      return commit(size);
    });
  }

  // A small body in memory is hashed there and written once (write, fdatasync, rename): no re-read, no
  // separate append, and the directory fsync is shared with every blob renamed meanwhile. Open, fstat and
  // close touch only cached metadata and run inline: a thread-pool hop costs more than those syscalls.
  async function finishWith<T>(id: string, digest: Digest, bytes: Uint8Array, commit: (size: number) => Promise<T>) {
    const path = uploadPath(id);
    const ok = matches(digest, bytes);
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new StoreError('BLOB_UPLOAD_UNKNOWN', `Cannot finish upload "${id}": it does not exist`);
    }
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (size > 0) {
      closeSync(fd);
      await append(id, size, once(bytes), {});
      return finish(id, digest, commit);
    }
    if (!ok) {
      closeSync(fd);
      await cancelUpload(id);
      throw mismatch(digest, bytes);
    }
    hashes.delete(id);
    try {
      return await writeBlob(fd, path, digest, bytes, commit);
    } catch (err) {
      // Like a failed append, leave the session empty so the client can retry.
      await truncate(path, 0).catch(() => undefined);
      throw err;
    }
  }

  async function put<T>(digest: Digest, bytes: Uint8Array, commit: (size: number) => Promise<T>): Promise<T> {
    if (!matches(digest, bytes)) throw mismatch(digest, bytes);
    const path = uploadPath(newId(18));
    const fd = openSync(path, 'wx', 0o600);
    try {
      return await writeBlob(fd, path, digest, bytes, commit);
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
  }

  // Writes `bytes` into the open, empty file at `path`, makes them durable and renames the file into place.
  async function writeBlob<T>(
    fd: number,
    path: string,
    digest: Digest,
    bytes: Uint8Array,
    commit: (size: number) => Promise<T>,
  ): Promise<T> {
    const { algorithm } = parseDigest(digest);
    try {
      await fillDurably(fd, bytes);
    } finally {
      closeSync(fd);
    }
    return withLock(digest, async () => {
      // Renaming over an existing copy is safe: both hold the same verified bytes.
      await rename(path, blobPath(digest));
      await dirSyncs[algorithm]();
      return commit(bytes.byteLength);
    });
  }

  async function cancelUpload(id: string): Promise<boolean> {
    hashes.delete(id);
    try {
      await unlink(uploadPath(id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  return {
    uploads,
    put,
    async stat(digest) {
      try {
        const st = await stat(blobPath(digest));
        return { size: st.size, mtime: st.mtime };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    read(digest, range) {
      return createReadStream(blobPath(digest), { highWaterMark: READ_BUFFER, ...(range ?? {}) });
    },
    async send(digest, sink, { start, end }, ready) {
      const fh = await open(blobPath(digest), 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (fh === null) return false;
      try {
        ready();
        await sendFile(fh, sink, start, end + 1);
        return true;
      } finally {
        await fh.close();
      }
    },
    remove(digest, decide) {
      return withLock(digest, async () => {
        if (!(await decide())) return false;
        await rm(blobPath(digest), { force: true });
        return true;
      });
    },
    async *list() {
      for (const algorithm of ['sha256', 'sha512'] as const) {
        for (const hex of await readdir(join(blobsDir, algorithm))) {
          const digest = `${algorithm}:${hex}`;
          if (!isDigest(digest)) continue;
          const st = await stat(join(blobsDir, algorithm, hex)).catch(() => null);
          if (st !== null) yield { digest, size: st.size, mtime: st.mtime };
        }
      }
    },
  };
}
