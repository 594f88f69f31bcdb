/**
 * Test data and the machine's own limits, measured in the same run as the registries:
 * what a registry must at least do (hash + durable write, or read + hash) without any HTTP.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { mbPerSecond, runPool } from './stats.ts';

export const MiB = 1024 * 1024;

/** Flushes dirty pages so one measurement does not pay for the previous one's writeback. */
export function syncDisks(): void {
  execFileSync('sync');
}

/** Writes `size` bytes of random content to `path` in 4 MiB chunks (never the whole file in memory). */
export async function createRandomFile(path: string, size: number): Promise<void> {
  const chunk = Buffer.allocUnsafe(4 * MiB);
  const fh = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(chunk.length, size - written);
      randomFillSync(chunk, 0, n);
      await fh.write(chunk, 0, n, written);
      written += n;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Overwrites the first 32 bytes with fresh random data and returns the file's new digest, so every
 * push uploads content the registry has never seen (no dedupe shortcut across runs or servers).
 */
export async function restampFile(path: string): Promise<string> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(randomBytes(32), 0, 32, 0);
  } finally {
    await fh.close();
  }
  return hashFile(path).then((r) => r.digest);
}

export async function hashFile(path: string): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}

/**
 * Limit for a big push: stream the file through sha256 into a new file (hashing overlapped with the
 * writes, as a streaming server would), fsync it on close, rename it into place. MB/s.
 */
export async function hashWriteLimit(src: string, dir: string): Promise<number> {
  const tmp = join(dir, `limit-${process.pid}.tmp`);
  const dst = join(dir, `limit-${process.pid}.blob`);
  const hash = createHash('sha256');
  let bytes = 0;
  const t0 = performance.now();
  await pipeline(
    createReadStream(src, { highWaterMark: 1 << 20 }),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(tmp, { flush: true, highWaterMark: 1 << 20 }),
  );
  hash.digest('hex');
  await rename(tmp, dst);
  const ms = performance.now() - t0;
  await rm(dst, { force: true });
  return mbPerSecond(bytes, ms);
}

/** Limit for a big pull: stream the (page-cached) file and sha256 it. MB/s. */
/** Limit for a pull that does not hash: reading the file from the page cache in 1 MiB reads. */
export async function readLimit(src: string): Promise<number> {
  const buffer = Buffer.allocUnsafe(MiB);
  const fh = await open(src, 'r');
  const t0 = performance.now();
  let bytes = 0;
  try {
    for (let n = 1; n > 0; bytes += n) n = (await fh.read(buffer, 0, MiB, bytes)).bytesRead;
  } finally {
    await fh.close();
  }
  return mbPerSecond(bytes, performance.now() - t0);
}

export async function readHashLimit(src: string): Promise<number> {
  const t0 = performance.now();
  const { bytes } = await hashFile(src);
  return mbPerSecond(bytes, performance.now() - t0);
}

/** Limit for small pushes: per blob sha256 + write + fsync + rename at the given concurrency. */
export async function smallWriteLimit(
  blobs: readonly Buffer[],
  dir: string,
  concurrency: number,
): Promise<{ opsPerSecond: number; latencies: number[] }> {
  const { latencies, elapsedMs } = await runPool(blobs.length, concurrency, async (i) => {
    const bytes = blobs[i]!;
    const name = createHash('sha256').update(bytes).digest('hex');
    const tmp = join(dir, `${name}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.write(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, name));
  });
  return { opsPerSecond: blobs.length / (elapsedMs / 1000), latencies };
}
