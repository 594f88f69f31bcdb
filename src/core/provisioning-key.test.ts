import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Digest } from './digest.ts';
import { readProvisioningClaims, signProvisioningKey, verifyProvisioningKey } from './provisioning-key.ts';
import type { Signer } from './signer.ts';

function signer(type: 'ec' | 'ed25519'): Signer & { privateKey: KeyObject } {
  const { publicKey, privateKey } =
    type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return {
    keyId: createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex'),
    algorithm: type === 'ec' ? 'ecdsa-p256-sha256' : 'ed25519',
    publicKey,
    privateKey,
    sign: async (data) => sign(type === 'ec' ? 'sha256' : null, data, privateKey),
  };
}

const release = `sha256:${'a'.repeat(64)}` as Digest;
const other = `sha256:${'b'.repeat(64)}` as Digest;
const now = new Date('2026-12-06T12:00:00Z');
const t = Math.floor(now.getTime() / 1000);
const claims = { release, environment: 'staging', quota: 3, iat: t, exp: t + 600, nonce: '0123456789abcdef0123' };

describe('provisioning keys', () => {
  for (const type of ['ec', 'ed25519'] as const) {
    test(`a key signed with ${type} verifies and carries its claims`, async () => {
      const s = signer(type);
      const key = await signProvisioningKey(s, claims);
      const verified = verifyProvisioningKey(key, s.publicKey, { release, environment: 'staging' }, now);
      assert.equal(verified.quota, 3);
      assert.equal(verified.kid, s.keyId);
      assert.deepEqual(readProvisioningClaims(key), verified);
    });
  }

  test('a key signed by another key is forged', async () => {
    const key = await signProvisioningKey(signer('ec'), claims);
    assert.throws(() => verifyProvisioningKey(key, signer('ec').publicKey, { release, environment: 'staging' }, now), {
      code: 'KEY_FORGED',
    });
  });

  test('changed claims with the original signature are forged', async () => {
    const s = signer('ec');
    const [p, payload, sig] = (await signProvisioningKey(s, claims)).split('.');
    const body = JSON.parse(Buffer.from(payload as string, 'base64url').toString());
    body.quota = 1000;
    const tampered = `${p}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.${sig}`;
    assert.throws(() => verifyProvisioningKey(tampered, s.publicKey, { release, environment: 'staging' }, now), {
      code: 'KEY_FORGED',
    });
  });

  test('expiry, release and environment are enforced, each with its own code', async () => {
    const s = signer('ec');
    const key = await signProvisioningKey(s, claims);
    const later = new Date((t + 600) * 1000);
    assert.throws(() => verifyProvisioningKey(key, s.publicKey, { release, environment: 'staging' }, later), {
      code: 'KEY_EXPIRED',
    });
    assert.throws(() => verifyProvisioningKey(key, s.publicKey, { release: other, environment: 'staging' }, now), {
      code: 'KEY_WRONG_RELEASE',
    });
    assert.throws(() => verifyProvisioningKey(key, s.publicKey, { release, environment: 'prod' }, now), {
      code: 'KEY_WRONG_ENVIRONMENT',
    });
  });

  test('missing and malformed keys are refused without echoing them', () => {
    const pk = signer('ec').publicKey;
    assert.throws(() => verifyProvisioningKey(undefined, pk, { release, environment: 'x' }, now), {
      code: 'KEY_MISSING',
    });
    for (const bad of ['nope', 'fpk1.e30.AA', 'fpk2.a.b', `fpk1.${Buffer.from('{').toString('base64url')}.AA`]) {
      assert.throws(
        () => verifyProvisioningKey(bad, pk, { release, environment: 'x' }, now),
        (err: Error & { code?: string }) => err.code === 'KEY_MALFORMED' && !err.message.includes(bad),
      );
    }
  });
});
