import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { constants, createZstdCompress, gunzipSync, gzipSync, zstdDecompressSync } from 'node:zlib';
import { BLOCK_SIZE, type Compression, createBlockCompressor } from './block-compressor.ts';

async function compress(
  compression: Compression,
  input: Buffer,
  chunk: number,
  concurrency: number,
  level?: number,
): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const compressor = createBlockCompressor(compression, {
    output: async (bytes) => {
      parts.push(Buffer.from(bytes));
    },
    concurrency,
    ...(level === undefined ? {} : { level }),
  });
  for (let i = 0; i < input.length; i += chunk) await compressor.write(input.subarray(i, i + chunk));
  await compressor.end();
  return Buffer.concat(parts);
}

describe('createBlockCompressor()', () => {
  // 2.5 blocks: compressible text with random runs, so both matches and literals occur
  const input = Buffer.concat(
    Array.from({ length: 40 }, (_, i) => Buffer.concat([Buffer.from(`line ${i} `.repeat(4000)), randomBytes(30_000)])),
  ).subarray(0, BLOCK_SIZE * 2.5);

  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    test(`createBlockCompressor() writes the same ${compression} bytes whatever the chunking and concurrency`, async () => {
      const one = await compress(compression, input, 512, 1);
      const two = await compress(compression, input, 3 * 1024 * 1024, 8);
      const three = await compress(compression, input, 65_537, 3);
      assert.ok(one.equals(two) && one.equals(three));
      const back = compression === 'gzip' ? gunzipSync(one) : compression === 'zstd' ? zstdDecompressSync(one) : one;
      assert.ok(back.equals(input));
    });
  }

  test('createBlockCompressor() writes zstd as one block at a time would, with blocks queued when it ends', async () => {
    // The reference: each block compressed before the next is written, then an empty end. The compressor
    // queues blocks; a block still queued at end() would be compressed with the finishing flag instead.
    const long = Buffer.concat(Array.from({ length: 7 }, () => input)).subarray(0, BLOCK_SIZE * 6.5);
    const reference = createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 3 } });
    const parts: Buffer[] = [];
    reference.on('data', (piece: Buffer) => parts.push(piece));
    const ended = new Promise((resolve) => reference.once('end', resolve));
    for (let i = 0; i < long.length; i += BLOCK_SIZE) {
      await new Promise((resolve) => reference.write(long.subarray(i, i + BLOCK_SIZE), resolve));
    }
    reference.end();
    await ended;
    const expected = Buffer.concat(parts);
    for (let run = 0; run < 3; run++) {
      assert.ok((await compress('zstd', long, 3 * BLOCK_SIZE, 1)).equals(expected), `run ${run}`);
    }
  });

  test('createBlockCompressor() writes one gzip member per block when compressing gzip', async () => {
    const out = await compress('gzip', input, 1 << 16, 2);
    // Each member starts with the fixed Node header: magic, deflate, no flags, mtime 0, XFL 0, OS 3 (Unix).
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    let members = 0;
    for (let at = out.indexOf(header); at !== -1; at = out.indexOf(header, at + 1)) members++;
    assert.equal(members, 3);
  });

  test('createBlockCompressor() writes each block as gzip() at level 6 makes it, for empty input none', async () => {
    const out = await compress('gzip', input, 1 << 16, 2);
    const blocks = [0, 1, 2].map((i) => input.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
    assert.ok(out.equals(Buffer.concat(blocks.map((b) => gzipSync(b, { level: 6 })))));
    assert.equal((await compress('gzip', Buffer.alloc(0), 1, 1)).byteLength, 0);
  });

  test('createBlockCompressor() compresses at the level asked for: other bytes, the same content', async () => {
    const blocks = [0, 1, 2].map((i) => input.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
    const fast = await compress('gzip', input, 1 << 16, 2, 1);
    assert.ok(fast.equals(Buffer.concat(blocks.map((b) => gzipSync(b, { level: 1 })))));
    assert.ok(!fast.equals(await compress('gzip', input, 1 << 16, 2)));
    assert.ok(gunzipSync(fast).equals(input));
    const zstd = await compress('zstd', input, 1 << 16, 2, 19);
    assert.ok(
      zstd.byteLength < (await compress('zstd', input, 1 << 16, 2)).byteLength,
      'level 19 packs tighter than 3',
    );
    assert.ok(zstdDecompressSync(zstd).equals(input));
  });
});
