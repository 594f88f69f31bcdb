import { createHash, type Hash, hash as hashBytes } from 'node:crypto';
import { createReadStream, fdatasync, write, writeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { type Digest, type DigestAlgorithm, DigestError, parseDigest } from '../core/index.ts';

/** Read size for hashing and serving blobs: large reads keep sha256 and the socket busy. */
export const READ_BUFFER = 1024 * 1024;

/** Writes every buffer at `position`; writev may write less than asked, so it continues where it stopped. */
export async function writeAll(fh: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    let written = (await fh.writev(rest, at)).bytesWritten;
    at += written;
    const next: Uint8Array[] = [];
    for (const b of rest) {
      if (written >= b.byteLength) written -= b.byteLength;
      else {
        next.push(written === 0 ? b : b.subarray(written));
        written = 0;
      }
    }
    rest = next;
  }
}

// Up to this size a write into the page cache is cheaper inline than a hop to the thread pool.
const INLINE_WRITE = 64 * 1024;
const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

/** Writes `bytes` at the start of the open file `fd` and fdatasyncs it (off the event loop). */
export async function fillDurably(fd: number, bytes: Uint8Array): Promise<void> {
  const length = bytes.byteLength;
  for (let at = 0; at < length; ) {
    at +=
      length <= INLINE_WRITE
        ? writeSync(fd, bytes, at, length - at, at)
        : (await writeAsync(fd, bytes, at, length - at, at)).bytesWritten;
  }
  await fdatasyncAsync(fd);
}

/** `bytes` as a one-chunk source. */
export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** True when `bytes` hash to `digest`. */
export function matches(digest: Digest, bytes: Uint8Array): boolean {
  const { algorithm, hex } = parseDigest(digest);
  return hashBytes(algorithm, bytes, 'hex') === hex;
}

/** The DIGEST_MISMATCH error for `bytes` claimed to be `digest`. */
export function mismatch(digest: Digest, bytes: Uint8Array): DigestError {
  const { algorithm } = parseDigest(digest);
  const actual = `${algorithm}:${hashBytes(algorithm, bytes, 'hex')}`;
  return new DigestError('DIGEST_MISMATCH', `Cannot accept blob: its content hashes to ${actual}, not ${digest}`);
}

/** The running hash of a file's bytes (to resume an upload after a restart). */
export async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<Hash> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: READ_BUFFER })) hash.update(chunk as Buffer);
  return hash;
}

/** Fsyncs a directory: a rename into it is durable only once the directory entry is. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes bytes [start, end) of an open file to `sink` through two reused buffers: one is read while the
 * other is being written. Fresh buffers per chunk (a ReadStream) cost page faults and GC for large blobs.
 * The sink must be done with a chunk once its write callback runs, as a socket is.
 */
export async function sendFile(fh: FileHandle, sink: Writable, start: number, end: number): Promise<void> {
  const chunk = Math.min(READ_BUFFER, end - start);
  const buffers = [Buffer.allocUnsafeSlow(chunk), Buffer.allocUnsafeSlow(chunk)];
  const writes: Array<Promise<void> | undefined> = [undefined, undefined];
  let position = start;
  try {
    for (let i = 0; position < end; i ^= 1) {
      await writes[i];
      const buffer = buffers[i]!;
      const { bytesRead } = await fh.read(buffer, 0, Math.min(chunk, end - position), position);
      if (bytesRead === 0) throw new Error(`Cannot send blob: the file ends at ${position} bytes, before ${end}`);
      position += bytesRead;
      const written = writeChunk(sink, bytesRead === chunk ? buffer : buffer.subarray(0, bytesRead));
      written.catch(() => undefined); // awaited below; a failure while a read is pending is not unhandled
      writes[i] = written;
    }
  } finally {
    // Never return (and let a buffer be reused or the file close) while a write may still read it.
    await Promise.allSettled(writes);
  }
  await Promise.all(writes);
}

// Resolves once the chunk has been handed to the socket; rejects if the connection closes first.
function writeChunk(sink: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('Cannot send blob: the connection closed'));
    sink.once('close', onClose);
    sink.write(chunk, (err) => {
      sink.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}
