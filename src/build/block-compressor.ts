/**
 * Compresses a byte stream deterministically, in fixed 1 MiB blocks, so the output never depends on how the
 * input happened to be chunked.
 *
 * - gzip: each block is its own gzip member (level 6 unless told; Node writes header mtime 0 and OS byte 3), compressed in
 *   parallel on the libuv threadpool and written in order. Concatenated members are one valid gzip stream
 *   (RFC 1952 §2.2), read by gzip, Go's compress/gzip (containerd, umoci, skopeo) and Python. This is pigz's
 *   independent-block idea; the cost is a slightly worse ratio than one member, about 18 bytes per MiB plus the
 *   lost back-references across block edges.
 * - zstd: one frame from a single streaming compressor at level 3 unless told, fed the same blocks, up to
 *   ZSTD_QUEUED of them queued so the compressor works while the caller reads the next (see zstdSink).
 * - none: the blocks as they are.
 * Memory stays bounded: at most 2 × `concurrency` blocks (and their compressed forms) are held at once.
 */
import { availableParallelism } from 'node:os';
import type { TransformOptions } from 'node:stream';
import { constants, createGzip, createZstdCompress, type ZstdOptions } from 'node:zlib';
import { BuildError } from './build-error.ts';

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

/**
 * The levels each compression takes and its default: gzip 6 (what `gzip` and most image builders use), zstd
 * 3 (zstd's own default). The level is part of what the bytes depend on, so builds record it when it is not
 * the default.
 */
export const COMPRESSION_LEVELS = {
  gzip: { min: 1, max: 9, default: 6 },
  zstd: { min: 1, max: 19, default: 3 },
} as const;
/** The level to name, or undefined for the compression's default; LAYER_INVALID outside its range. */
export function checkLevel(compression: 'gzip' | 'zstd', level: number | undefined): number | undefined {
  const range = COMPRESSION_LEVELS[compression];
  if (level === undefined || level === range.default) return undefined;
  if (Number.isInteger(level) && level >= range.min && level <= range.max) return level;
  throw new BuildError(
    'LAYER_INVALID',
    `Cannot compress at level ${level}: ${compression} takes ${range.min} to ${range.max} (default ${range.default})`,
  );
}

// zlib's output buffer per member. Its default of 16 KiB returned to the main thread a dozen times per 1 MiB
// block, each a threadpool round trip; 256 KiB holds a whole member of anything but incompressible input.
const OUTPUT_CHUNK = 256 << 10;

/** Creates a compressor that hands compressed bytes, in order, to `options.output`. */
export function createBlockCompressor(
  compression: Compression,
  options: { output: (bytes: Uint8Array) => Promise<void>; concurrency?: number; level?: number },
): BlockCompressor {
  // Twice the cores: with only one member per core, each core sits idle between finishing a member and the
  // main thread (busy reading files) handing it the next (measured: ~80 vs ~110 MB/s on 2 cores).
  const concurrency = Math.max(1, options.concurrency ?? 2 * availableParallelism());
  // Blocks are reused once compressed: faulting in a fresh 1 MiB buffer per block costs more than copying it.
  const spare: Buffer[] = [];
  const recycle = (used: Buffer) => {
    if (used.length === BLOCK_SIZE && spare.length <= 2 * concurrency) spare.push(used);
  };
  const level = compression === 'none' ? 0 : (options.level ?? COMPRESSION_LEVELS[compression].default);
  const sink = createSink(compression, options.output, { concurrency, recycle, level });
  let block: Buffer = Buffer.allocUnsafe(BLOCK_SIZE);
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
          block = spare.pop() ?? Buffer.allocUnsafe(BLOCK_SIZE);
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

type Output = (bytes: Uint8Array) => Promise<void>;
type SinkOptions = { concurrency: number; recycle: (used: Buffer) => void; level: number };

function createSink(compression: Compression, output: Output, options: SinkOptions): Sink {
  switch (compression) {
    case 'none':
      return {
        block: async (bytes) => {
          await output(bytes);
          options.recycle(bytes);
        },
        end: async () => {},
        destroy: () => {},
      };
    case 'gzip':
      return gzipSink(output, options);
    case 'zstd':
      return zstdSink(output, options);
  }
}

// At most `concurrency` members compress at once (files are read on the main thread, not the threadpool), and
// at most twice that many blocks are held; finished members are written in block order.
function gzipSink(output: Output, { concurrency, recycle, level }: SinkOptions): Sink {
  const queue: Array<{ member: Promise<Buffer[]>; settled: boolean }> = [];
  let running = 0;
  let freed: (() => void) | null = null;
  const writeFront = async () => {
    for (const piece of await queue.shift()!.member) await output(piece);
  };
  return {
    async block(bytes) {
      while (queue.length > 0 && (queue[0]!.settled || queue.length >= 2 * concurrency)) await writeFront();
      while (running >= concurrency) {
        await new Promise<void>((resolve) => {
          freed = resolve;
        });
      }
      running++;
      const item = { member: gzipMember(bytes, level), settled: false };
      item.member
        .then(
          () => recycle(bytes),
          () => {},
        ) // a failure surfaces when the member is written
        .finally(() => {
          item.settled = true;
          running--;
          freed?.();
          freed = null;
        });
      queue.push(item);
    },
    async end() {
      while (queue.length > 0) await writeFront();
    },
    destroy: () => {}, // members in flight finish on the threadpool and are dropped with `queue`
  };
}

/**
 * One gzip member of `bytes`, as the pieces zlib wrote it in: the bytes of `gzip(bytes)`, without the copy
 * that joins them. Compressed bytes live outside the JavaScript heap and wait for a full garbage collection,
 * which V8 starts only after ~64 MB of them: packing 90k files, they piled up by 58 MB with the copy, 46-50
 * without.
 */
function gzipMember(bytes: Buffer, level: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    const gzip = createGzip({ level, chunkSize: OUTPUT_CHUNK });
    gzip.on('data', (piece: Buffer) => pieces.push(piece));
    gzip.once('end', () => resolve(pieces));
    gzip.once('error', reject);
    gzip.end(bytes);
  });
}

/** Blocks queued in the zstd stream while it compresses one (4 MiB). */
const ZSTD_QUEUED = 4;

// One zstd stream, fed blocks up to ZSTD_QUEUED ahead: with Node's default 16 KiB high-water mark each 1 MiB
// block waited for the one before, and the caller idled ~2 s of a 90k-file build while zstd worked. The bytes
// must not depend on timing, and they would: Node's zlib compresses a chunk still queued when `end()` is called
// with the finishing flag, ending the frame differently. So `end()` waits until every block is compressed;
// the frame is then always each block with ZSTD_e_continue and an empty ZSTD_e_end, as with one block at a time.
function zstdSink(output: Output, { recycle, level }: SinkOptions): Sink {
  // Node's zlib streams take the Transform options too; the typings leave them out.
  const options: ZstdOptions & Pick<TransformOptions, 'writableHighWaterMark'> = {
    params: { [constants.ZSTD_c_compressionLevel]: level },
    chunkSize: OUTPUT_CHUNK,
    writableHighWaterMark: ZSTD_QUEUED * BLOCK_SIZE,
  };
  const zstd = createZstdCompress(options);
  let queued = 0;
  let idle: (() => void) | null = null;
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
      queued++;
      const more = zstd.write(bytes, (err) => {
        queued--;
        if (queued === 0) idle?.();
        if (!err) recycle(bytes);
      });
      if (more) return;
      await Promise.race([new Promise((resolve) => zstd.once('drain', resolve)), stopped]);
    },
    async end() {
      if (queued > 0) {
        await Promise.race([
          new Promise<void>((resolve) => {
            idle = resolve;
          }),
          stopped,
        ]);
      }
      zstd.end();
      await pumping;
    },
    destroy: () => zstd.destroy(),
  };
}
