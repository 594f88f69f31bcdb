/**
 * Compresses a byte stream deterministically, in fixed 1 MiB blocks, so the output never depends on how the
 * input happened to be chunked.
 *
 * - gzip: each block is its own gzip member (level 6; Node writes header mtime 0 and OS byte 3), compressed in
 *   parallel on the libuv threadpool and written in order. Concatenated members are one valid gzip stream
 *   (RFC 1952 §2.2), read by gzip, Go's compress/gzip (containerd, umoci, skopeo) and Python. This is pigz's
 *   independent-block idea; the cost is a slightly worse ratio than one member, about 18 bytes per MiB plus the
 *   lost back-references across block edges.
 * - zstd: one frame from a single streaming compressor at level 3, fed the same blocks.
 * - none: the blocks as they are.
 * At most `concurrency` blocks (and their compressed forms) are held at once.
 */
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { constants, createZstdCompress, gzip } from 'node:zlib';

export type Compression = 'gzip' | 'zstd' | 'none';

export interface BlockCompressor {
  /** Takes more input; resolves when the caller may send more. */
  write(chunk: Uint8Array): Promise<void>;
  /** Compresses what is left and resolves once everything has been handed to `output`. */
  end(): Promise<void>;
  /** Stops early after a failure elsewhere; blocks in flight are dropped. */
  destroy(): void;
}

export const BLOCK_SIZE = 1 << 20;
const GZIP_LEVEL = 6;
const ZSTD_LEVEL = 3;
const gzipAsync = promisify(gzip);

/** Creates a compressor that hands compressed bytes, in order, to `options.output`. */
export function createBlockCompressor(
  compression: Compression,
  options: { output: (bytes: Uint8Array) => Promise<void>; concurrency?: number },
): BlockCompressor {
  const sink = createSink(compression, options.output, options.concurrency ?? availableParallelism());
  let block = Buffer.allocUnsafe(BLOCK_SIZE);
  let filled = 0;
  return {
    async write(chunk) {
      for (let offset = 0; offset < chunk.byteLength; ) {
        const n = Math.min(BLOCK_SIZE - filled, chunk.byteLength - offset);
        block.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === BLOCK_SIZE) {
          const full = block;
          block = Buffer.allocUnsafe(BLOCK_SIZE);
          filled = 0;
          await sink.block(full);
        }
      }
    },
    async end() {
      if (filled > 0) await sink.block(block.subarray(0, filled));
      await sink.end();
    },
    destroy: () => sink.destroy(),
  };
}

interface Sink {
  block(bytes: Buffer): Promise<void>;
  end(): Promise<void>;
  destroy(): void;
}

function createSink(compression: Compression, output: (bytes: Uint8Array) => Promise<void>, concurrency: number): Sink {
  switch (compression) {
    case 'none':
      return { block: output, end: async () => {}, destroy: () => {} };
    case 'gzip':
      return gzipSink(output, Math.max(1, concurrency));
    case 'zstd':
      return zstdSink(output);
  }
}

function gzipSink(output: (bytes: Uint8Array) => Promise<void>, concurrency: number): Sink {
  const pending: Array<Promise<Buffer>> = [];
  const flushOne = async () => output(await pending.shift()!);
  return {
    async block(bytes) {
      const member = gzipAsync(bytes, { level: GZIP_LEVEL });
      member.catch(() => {}); // awaited in order below; this only keeps an early failure from being "unhandled"
      pending.push(member);
      if (pending.length >= concurrency) await flushOne();
    },
    async end() {
      while (pending.length > 0) await flushOne();
    },
    destroy: () => {}, // members in flight finish on the threadpool and are dropped with `pending`
  };
}

function zstdSink(output: (bytes: Uint8Array) => Promise<void>): Sink {
  const zstd = createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
  const pumping = (async () => {
    for await (const bytes of zstd) await output(bytes as Buffer);
  })();
  pumping.catch(() => {}); // surfaced through block() and end()
  const stopped = pumping.then(() => {
    throw new Error('zstd stream ended early');
  });
  stopped.catch(() => {});
  return {
    async block(bytes) {
      if (zstd.write(bytes)) return;
      await Promise.race([new Promise((resolve) => zstd.once('drain', resolve)), stopped]);
    },
    async end() {
      zstd.end();
      await pumping;
    },
    destroy: () => zstd.destroy(),
  };
}
