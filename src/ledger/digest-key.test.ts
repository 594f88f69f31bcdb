import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DIGEST_BUCKET, digestBits, digestKey, digestKeys } from './digest-key.ts';

const D = 'sha256:0a1b2c3d00000000000000000000000000000000000000000000000000000000';

describe('digest keys', () => {
  test('digestBits() takes the leading 32 bits of a hex digest, and hashes anything else', () => {
    assert.equal(digestBits(D), 0x0a1b2c3d);
    assert.equal(digestBits('sha512:ffffffff00'), 0xffffffff);
    const other = digestBits('not a digest');
    assert.ok(Number.isInteger(other) && other >= 0 && other < 2 ** 32);
    assert.equal(digestBits('not a digest'), other, 'stable');
    assert.notEqual(digestBits('sha256:0A1B2C3D'), 0x0a1b2c3d, 'uppercase is not a canonical digest: hashed');
  });

  test('digestKey() files a leaf under its bucket, and digestKeys() lists every bucket a tree has', () => {
    assert.equal(digestKey(D, 0), 0x0a1b2c3d);
    assert.equal(digestKey(D, DIGEST_BUCKET), 2 ** 32 + 0x0a1b2c3d);
    assert.ok(Number.isSafeInteger(digestKey(D, 2 ** 36)));
    assert.deepEqual(digestKeys(D, 0), []);
    assert.deepEqual(digestKeys(D, DIGEST_BUCKET + 1), [digestKey(D, 0), digestKey(D, DIGEST_BUCKET)]);
  });
});
