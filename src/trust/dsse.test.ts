import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { type Envelope, pae, parseEnvelope, signEnvelope, verifyEnvelope } from './dsse.ts';
import { generateKeyPair, loadPublicKey, loadSigner } from './keys.ts';
import { TrustError } from './trust-error.ts';

// The official vector (secure-systems-lab/dsse protocol.md), kept beside the project in shared/vectors.
const VECTORS = new URL('../../../shared/vectors/dsse/', import.meta.url);
const vector = JSON.parse(readFileSync(new URL('protocol-vector.json', VECTORS), 'utf8')) as {
  payloadType: string;
  serializedBody: string;
  pae: string;
  envelope: Envelope;
};
const vectorKey = loadPublicKey(readFileSync(new URL('protocol-vector-pub.pem', VECTORS), 'utf8'));
const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;

describe('DSSE', () => {
  test('pae() matches the DSSE spec vector byte for byte', () => {
    const encoded = pae(vector.payloadType, Buffer.from(vector.serializedBody));
    assert.equal(encoded.toString('utf8'), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    assert.equal(encoded.toString('utf8'), vector.pae);
    assert.equal(
      encoded.toString('hex'),
      '44535345763120323920687474703a2f2f6578616d706c652e636f6d2f48656c6c6f576f726c642031312068656c6c6f20776f726c64',
    );
  });

  test('pae() counts bytes, not characters, and allows empty parts', () => {
    assert.equal(pae('t/é', Buffer.from('€')).toString('utf8'), 'DSSEv1 4 t/é 3 €');
    assert.equal(pae('', Buffer.alloc(0)).toString('utf8'), 'DSSEv1 0  0 ');
  });

  test('verifyEnvelope() accepts the vector (a P1363 signature) and returns its payload', () => {
    assert.equal(verifyEnvelope(vector.envelope, [vectorKey]).toString('utf8'), 'hello world');
    const file = JSON.parse(readFileSync(new URL('protocol-vector-envelope.json', VECTORS), 'utf8'));
    assert.equal(verifyEnvelope(parseEnvelope(file), [vectorKey]).toString('utf8'), 'hello world');
  });

  test('verifyEnvelope() refuses the vector when its payload, type or signature is tampered with', () => {
    const sig = vector.envelope.signatures[0]!.sig;
    const tampered: Envelope[] = [
      { ...vector.envelope, payload: Buffer.from('hello world!').toString('base64') },
      { ...vector.envelope, payloadType: 'http://example.com/Other' },
      { ...vector.envelope, signatures: [{ sig: `B${sig.slice(1)}` }] },
    ];
    for (const envelope of tampered)
      assert.throws(() => verifyEnvelope(envelope, [vectorKey]), hasCode('SIGNATURE_INVALID'));
    const other = loadPublicKey(generateKeyPair('p256').publicKeyPem);
    assert.throws(() => verifyEnvelope(vector.envelope, [other]), hasCode('SIGNATURE_INVALID'));
  });

  for (const type of ['p256', 'ed25519'] as const) {
    test(`signEnvelope() with ${type} sets keyid to the key id and verifies, in standard or URL-safe base64`, async () => {
      const signer = loadSigner(generateKeyPair(type).privateKeyPem);
      const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","x":"??>>"}');
      const envelope = await signEnvelope(signer, 'application/vnd.in-toto+json', payload);
      assert.equal(envelope.signatures.length, 1);
      assert.equal(envelope.signatures[0]!.keyid, signer.keyId);
      assert.deepEqual(verifyEnvelope(envelope, [signer.publicKey]), payload);
      const urlSafe = (s: string) => s.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
      const safe = {
        ...envelope,
        payload: urlSafe(envelope.payload),
        signatures: [{ sig: urlSafe(envelope.signatures[0]!.sig) }],
      };
      assert.deepEqual(verifyEnvelope(safe, [signer.publicKey]), payload);
    });
  }

  test('verifyEnvelope() finds the signature by a trusted key among several', async () => {
    const alice = loadSigner(generateKeyPair('p256').privateKeyPem);
    const bob = loadSigner(generateKeyPair('ed25519').privateKeyPem);
    const a = await signEnvelope(alice, 'text/plain', Buffer.from('hi'));
    const b = await signEnvelope(bob, 'text/plain', Buffer.from('hi'));
    const both = { ...a, signatures: [...a.signatures, ...b.signatures] };
    assert.equal(verifyEnvelope(both, [bob.publicKey]).toString(), 'hi');
    assert.equal(verifyEnvelope(both, [alice.publicKey, bob.publicKey]).toString(), 'hi');
  });

  test('parseEnvelope() refuses malformed envelopes with ENVELOPE_INVALID', () => {
    for (const bad of [
      null,
      {},
      { payload: 'aGk=', payloadType: 't', signatures: [] },
      { ...vector.envelope, payload: 'a!b' },
    ]) {
      assert.throws(() => parseEnvelope(bad), hasCode('ENVELOPE_INVALID'));
    }
    assert.throws(
      () => verifyEnvelope({ ...vector.envelope, payload: 'aGVs bG8=' }, [vectorKey]),
      hasCode('ENVELOPE_INVALID'),
    );
  });
});
