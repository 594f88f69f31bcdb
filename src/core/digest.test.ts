import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  assertDigest,
  createDigester,
  type Digest,
  DigestError,
  digestOf,
  isDigest,
  parseDigest,
  verifyDigest,
} from './digest.ts';

const HEX64 = 'a'.repeat(64);
const HEX128 = '0123456789abcdef'.repeat(8);
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const hasCode = (code: string) => (err: unknown) => err instanceof DigestError && err.code === code;

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield new TextEncoder().encode(p);
}

async function drain(source: AsyncIterable<Uint8Array>): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const c of source) text += decoder.decode(c, { stream: true });
  return text + decoder.decode();
}

describe('parseDigest()', () => {
  test('parseDigest() splits a sha256 digest into algorithm and hex', () => {
    assert.deepEqual(parseDigest(`sha256:${HEX64}`), { algorithm: 'sha256', hex: HEX64 });
  });

  test('parseDigest() accepts a sha512 digest of 128 hex characters', () => {
    assert.deepEqual(parseDigest(`sha512:${HEX128}`), { algorithm: 'sha512', hex: HEX128 });
  });

  test('parseDigest() rejects uppercase hex', () => {
    assert.throws(() => parseDigest(`sha256:${'A'.repeat(64)}`), hasCode('DIGEST_INVALID'));
  });

  test('parseDigest() rejects an uppercase algorithm', () => {
    assert.throws(() => parseDigest(`SHA256:${HEX64}`), hasCode('DIGEST_INVALID'));
  });

  test('parseDigest() rejects hex of the wrong length for the algorithm', () => {
    assert.throws(() => parseDigest(`sha256:${'a'.repeat(63)}`), hasCode('DIGEST_INVALID'));
    assert.throws(() => parseDigest(`sha256:${'a'.repeat(65)}`), hasCode('DIGEST_INVALID'));
    assert.throws(() => parseDigest(`sha256:${HEX128}`), hasCode('DIGEST_INVALID'));
    assert.throws(() => parseDigest(`sha512:${HEX64}`), hasCode('DIGEST_INVALID'));
  });

  test('parseDigest() rejects non-hex characters the grammar otherwise allows', () => {
    assert.throws(() => parseDigest(`sha256:${'g'.repeat(64)}`), hasCode('DIGEST_INVALID'));
    assert.throws(() => parseDigest(`sha256:${'a'.repeat(63)}=`), hasCode('DIGEST_INVALID'));
  });

  test('parseDigest() reports DIGEST_UNSUPPORTED for a well-formed unknown algorithm', () => {
    assert.throws(() => parseDigest(`md5:${'a'.repeat(32)}`), hasCode('DIGEST_UNSUPPORTED'));
    assert.throws(() => parseDigest(`sha384:${'a'.repeat(96)}`), hasCode('DIGEST_UNSUPPORTED'));
    assert.throws(
      () => parseDigest(`multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8`),
      hasCode('DIGEST_UNSUPPORTED'),
    );
  });

  test('parseDigest() rejects strings outside the algorithm:encoded grammar', () => {
    for (const bad of [
      '',
      'sha256',
      `sha256${HEX64}`,
      `sha256:`,
      `:${HEX64}`,
      `sha256::${HEX64}`,
      ` sha256:${HEX64}`,
      `sha256:${HEX64} `,
      `sha256:${HEX64}\n`,
      `sha--256:${HEX64}`,
      `sha256:${HEX64.slice(1)}/`,
    ]) {
      assert.throws(() => parseDigest(bad), hasCode('DIGEST_INVALID'), JSON.stringify(bad));
    }
  });

  test('parseDigest() clips a very long input in its message', () => {
    assert.throws(
      () => parseDigest(`x${' '.repeat(10_000)}`),
      (err: unknown) => err instanceof DigestError && err.message.length < 200,
    );
  });
});

describe('assertDigest() and isDigest()', () => {
  test('assertDigest() rejects values that are not strings', () => {
    for (const v of [undefined, null, 42, {}, [`sha256:${HEX64}`]]) {
      assert.throws(() => assertDigest(v), hasCode('DIGEST_INVALID'));
    }
  });

  test('assertDigest() accepts a valid digest', () => {
    assert.doesNotThrow(() => assertDigest(`sha512:${HEX128}`));
  });

  test('isDigest() answers without throwing', () => {
    assert.equal(isDigest(`sha256:${HEX64}`), true);
    assert.equal(isDigest(`sha512:${HEX128}`), true);
    assert.equal(isDigest(`sha256:${HEX64.toUpperCase()}`), false);
    assert.equal(isDigest(`md5:${'a'.repeat(32)}`), false);
    assert.equal(isDigest(7), false);
  });
});

describe('digestOf()', () => {
  test('digestOf() hashes the empty input to the well-known sha256', () => {
    assert.equal(digestOf(new Uint8Array()), EMPTY_SHA256);
    assert.equal(digestOf(''), EMPTY_SHA256);
  });

  test('digestOf() hashes strings as UTF-8', () => {
    assert.equal(digestOf('héllo'), digestOf(new TextEncoder().encode('héllo')));
  });

  test('digestOf() supports sha512', () => {
    const d = digestOf('abc', 'sha512');
    assert.equal(d, `sha512:${createHash('sha512').update('abc').digest('hex')}`);
    assert.equal(parseDigest(d).algorithm, 'sha512');
  });
});

describe('createDigester()', () => {
  test('createDigester() peek() reports the digest so far while hashing continues', () => {
    const d = createDigester();
    assert.equal(d.peek(), EMPTY_SHA256);
    d.update(new TextEncoder().encode('hello '));
    assert.equal(d.peek(), digestOf('hello '));
    assert.equal(d.size, 6);
    d.update(new TextEncoder().encode('world'));
    assert.equal(d.peek(), digestOf('hello world'));
    assert.equal(d.peek(), digestOf('hello world'), 'peek is repeatable');
    assert.equal(d.size, 11);
  });

  test('createDigester() uses the algorithm it is given', () => {
    const d = createDigester('sha512');
    d.update(new TextEncoder().encode('abc'));
    assert.equal(d.algorithm, 'sha512');
    assert.equal(d.peek(), digestOf('abc', 'sha512'));
  });

  test('createDigester() continues from an existing hash', () => {
    const hash = createHash('sha256').update('hello ');
    const d = createDigester('sha256', hash);
    d.update(new TextEncoder().encode('world'));
    assert.equal(d.peek(), digestOf('hello world'));
  });
});

describe('verifyDigest()', () => {
  test('verifyDigest() passes the content through when it matches', async () => {
    const text = await drain(verifyDigest(chunks('hello ', 'world'), digestOf('hello world'), { size: 11 }));
    assert.equal(text, 'hello world');
  });

  test('verifyDigest() accepts matching content without a size', async () => {
    assert.equal(await drain(verifyDigest(chunks('a', 'b'), digestOf('ab', 'sha512'))), 'ab');
  });

  test('verifyDigest() throws DIGEST_MISMATCH at the end when the content differs', async () => {
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const c of verifyDigest(chunks('hello ', 'there'), digestOf('hello world'))) {
        seen.push(new TextDecoder().decode(c));
      }
    }, hasCode('DIGEST_MISMATCH'));
    assert.deepEqual(seen, ['hello ', 'there']);
  });

  test('verifyDigest() throws SIZE_MISMATCH as soon as content exceeds the size', async () => {
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const c of verifyDigest(chunks('abc', 'def', 'ghi'), digestOf('abcdefghi'), { size: 4 })) {
        seen.push(new TextDecoder().decode(c));
      }
    }, hasCode('SIZE_MISMATCH'));
    assert.deepEqual(seen, ['abc'], 'the oversized chunk is never yielded');
  });

  test('verifyDigest() throws SIZE_MISMATCH when content is shorter than the size', async () => {
    await assert.rejects(drain(verifyDigest(chunks('abc'), digestOf('abc'), { size: 4 })), hasCode('SIZE_MISMATCH'));
  });

  test('verifyDigest() rejects a malformed expected digest before reading', async () => {
    let pulled = false;
    async function* source() {
      pulled = true;
      yield new Uint8Array(1);
    }
    await assert.rejects(drain(verifyDigest(source(), 'sha256:nope' as Digest)), hasCode('DIGEST_INVALID'));
    assert.equal(pulled, false);
  });
});

describe('digest properties', () => {
  test('digestOf() output always parses and verifyDigest() accepts it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        fc.constantFrom('sha256' as const, 'sha512' as const),
        fc.array(fc.nat({ max: 2048 }), { maxLength: 5 }),
        async (bytes, algorithm, cuts) => {
          const digest = digestOf(bytes, algorithm);
          assert.equal(parseDigest(digest).algorithm, algorithm);
          assert.equal(isDigest(digest), true);
          const points = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort(
            (a, b) => a - b,
          );
          async function* split() {
            for (let i = 1; i < points.length; i++) yield bytes.subarray(points[i - 1], points[i]);
          }
          const out: number[] = [];
          for await (const c of verifyDigest(split(), digest, { size: bytes.length })) out.push(...c);
          assert.deepEqual(Uint8Array.from(out), bytes);
        },
      ),
    );
  });
});
