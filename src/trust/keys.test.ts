import assert from 'node:assert/strict';
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  algorithmOf,
  generateKeyPair,
  keyIdOf,
  loadPublicKey,
  loadSigner,
  verifySignature,
  writeKeyFiles,
} from './keys.ts';
import { TrustError } from './trust-error.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;
const data = Buffer.from('the manifest bytes');

describe('keys', () => {
  for (const type of ['p256', 'ed25519'] as const) {
    test(`generateKeyPair('${type}') writes PKCS#8 and SPKI PEM whose key id is SHA-256 of the SPKI DER`, async () => {
      const pair = generateKeyPair(type);
      assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
      const der = loadPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' });
      assert.equal(pair.keyId, createHash('sha256').update(der).digest('hex'));
      const signer = loadSigner(pair.privateKeyPem);
      assert.equal(signer.keyId, pair.keyId);
      assert.equal(signer.algorithm, type === 'p256' ? 'ecdsa-p256-sha256' : 'ed25519');
      const sig = await signer.sign(data);
      assert.ok(verifySignature(signer.publicKey, data, sig));
      assert.ok(!verifySignature(signer.publicKey, Buffer.from('other bytes'), sig));
    });
  }

  test('loadSigner() signs ECDSA as DER, and verifySignature() also accepts 64-byte P1363', async () => {
    const pair = generateKeyPair('p256');
    const signer = loadSigner(pair.privateKeyPem);
    const der = await signer.sign(data);
    assert.equal(der[0], 0x30, 'an ASN.1 SEQUENCE');
    const p1363 = sign('sha256', data, { key: createPrivateKey(pair.privateKeyPem), dsaEncoding: 'ieee-p1363' });
    assert.equal(p1363.byteLength, 64);
    assert.ok(verifySignature(signer.publicKey, data, p1363));
    assert.ok(!verifySignature(signer.publicKey, data, Buffer.alloc(64)));
    assert.ok(!verifySignature(signer.publicKey, data, Buffer.from('not a signature')));
  });

  test('loadSigner() and loadPublicKey() refuse P-384 and RSA keys with KEY_UNSUPPORTED', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const { privateKey, publicKey } of [p384, rsa]) {
      assert.throws(
        () => loadSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
        hasCode('KEY_UNSUPPORTED'),
      );
      assert.throws(
        () => loadPublicKey(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
        hasCode('KEY_UNSUPPORTED'),
      );
    }
    assert.throws(() => algorithmOf(p384.publicKey), /P-?384|secp384r1/);
    assert.ok(!verifySignature(p384.publicKey, data, sign('sha256', data, p384.privateKey)));
  });

  test('loadPublicKey() refuses a private key and garbage with KEY_INVALID', () => {
    const pair = generateKeyPair('p256');
    assert.throws(() => loadPublicKey(pair.privateKeyPem), hasCode('KEY_INVALID'));
    assert.throws(() => loadPublicKey('hello'), hasCode('KEY_INVALID'));
    assert.throws(() => loadSigner(pair.publicKeyPem), hasCode('KEY_INVALID'));
  });

  test('loadSigner() opens an encrypted key with its passphrase and says why it cannot otherwise', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'open sesame' });
    const signer = loadSigner(pem.toString(), 'open sesame');
    assert.equal(signer.keyId, keyIdOf(privateKey));
    assert.throws(() => loadSigner(pem.toString()), /encrypted/);
    assert.throws(() => loadSigner(pem.toString(), 'wrong'), hasCode('KEY_INVALID'));
  });

  test('writeKeyFiles() writes NAME.key with mode 0600 and NAME.pub, and refuses to overwrite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fixity-keys-'));
    try {
      const pair = generateKeyPair('ed25519');
      const files = await writeKeyFiles(join(dir, 'ci'), pair);
      assert.deepEqual(files, { privateKeyFile: join(dir, 'ci.key'), publicKeyFile: join(dir, 'ci.pub') });
      assert.equal((await stat(files.privateKeyFile)).mode & 0o777, 0o600);
      assert.equal(await readFile(files.publicKeyFile, 'utf8'), pair.publicKeyPem);
      await assert.rejects(writeKeyFiles(join(dir, 'ci'), generateKeyPair('p256')), hasCode('KEY_FILE_EXISTS'));
      assert.equal(await readFile(files.privateKeyFile, 'utf8'), pair.privateKeyPem, 'the first key is intact');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
