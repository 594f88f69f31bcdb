import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalBytes, digestOf, type Signer } from '../core/index.ts';
import { createBundle, type SigstoreBundle } from './bundle.ts';
import { type Envelope, signEnvelope } from './dsse.ts';
import { generateKeyPair, loadSigner } from './keys.ts';
import { dsseBody, hashedrekordBody } from './rekor.ts';
import { createStatement, IN_TOTO_PAYLOAD_TYPE, PREDICATE_TYPES } from './statement.ts';
import { tlogEntry } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';
import { verifyBundle } from './verify-bundle.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;
const pairs = { alice: generateKeyPair('p256'), bob: generateKeyPair('ed25519') };
const alice = loadSigner(pairs.alice.privateKeyPem);
const bob = loadSigner(pairs.bob.privateKeyPem);
const manifest = Buffer.from('{"schemaVersion":2,"layers":[]}');
const image = digestOf(manifest);
const keys = (hint: string): KeyObject | undefined => [alice, bob].find((s) => s.keyId === hint)?.publicKey;
const pemOf = (s: Signer) => (s === alice ? pairs.alice : pairs.bob).publicKeyPem;

// A logged entry: the body is what the ledger appends (Rekor fields plus Fixity's own), the proof is a stand-in.
const logged = (body: object) =>
  tlogEntry({
    logIndex: 4,
    logId: '11'.repeat(32),
    integratedTime: 1_700_000_000,
    canonicalizedBody: canonicalBytes({ ...body, event: 'signature', actor: 'ci' }),
    inclusionProof: {
      logIndex: 4,
      rootHash: Buffer.alloc(32),
      treeSize: 5,
      hashes: [Buffer.alloc(32)],
      checkpoint: 'c\n',
    },
  });

async function messageBundle(signer: Signer, log = true): Promise<SigstoreBundle> {
  const signature = await signer.sign(manifest);
  const body = hashedrekordBody({ digestHex: image.slice(7), signature, publicKeyPem: pemOf(signer) });
  return createBundle({
    keyId: signer.keyId,
    content: { kind: 'message-signature', digest: image, signature },
    tlogEntries: log ? [logged(body)] : [],
  });
}

async function dsseBundle(signer: Signer, tweak: (e: Envelope) => Envelope = (e) => e): Promise<SigstoreBundle> {
  const statement = createStatement({ name: 'r.example/app', digest: image }, PREDICATE_TYPES.slsaProvenance, { x: 1 });
  const envelope = await signEnvelope(signer, IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement));
  const body = dsseBody({ envelope, publicKeyPem: pemOf(signer) });
  return createBundle({
    keyId: signer.keyId,
    content: { kind: 'dsse', envelope: tweak(envelope) },
    tlogEntries: [logged(body)],
  });
}

describe('verifyBundle()', () => {
  test('verifies a message signature over the artifact and decodes its tlog entry', async () => {
    const verified = verifyBundle(await messageBundle(alice), { artifact: manifest, keys });
    assert.equal(verified.kind, 'message-signature');
    assert.equal(verified.keyId, alice.keyId);
    assert.ok(verified.kind === 'message-signature' && verified.messageDigest === image);
    const [entry] = verified.tlogEntries;
    assert.equal(entry?.logIndex, 4);
    assert.equal(entry?.inclusionProof?.treeSize, 5);
    assert.equal(JSON.parse(entry!.canonicalizedBody.toString()).actor, 'ci');
  });

  for (const signer of [alice, bob]) {
    test(`verifies a DSSE in-toto bundle by ${signer.algorithm} and returns the statement parsed from the verified bytes`, async () => {
      const verified = verifyBundle(await dsseBundle(signer), { keys });
      assert.ok(verified.kind === 'dsse');
      assert.equal(verified.statement.predicateType, PREDICATE_TYPES.slsaProvenance);
      assert.deepEqual(JSON.parse(verified.payload.toString()), verified.statement);
      assert.equal(verified.tlogEntries.length, 1);
    });
  }

  test('refuses a message signature over other bytes, a tampered signature, or no artifact', async () => {
    const bundle = await messageBundle(alice, false);
    assert.throws(() => verifyBundle(bundle, { artifact: Buffer.from('other'), keys }), hasCode('SUBJECT_MISMATCH'));
    assert.throws(() => verifyBundle(bundle, { keys }), hasCode('BUNDLE_INVALID'));
    const sig = Buffer.from(bundle.messageSignature!.signature, 'base64');
    sig[sig.length - 1]! ^= 1;
    const tampered = {
      ...bundle,
      messageSignature: { ...bundle.messageSignature!, signature: sig.toString('base64') },
    };
    assert.throws(() => verifyBundle(tampered, { artifact: manifest, keys }), hasCode('SIGNATURE_INVALID'));
  });

  test('refuses an unknown key hint, a wrong key, and a tampered payload', async () => {
    const bundle = await dsseBundle(alice);
    assert.throws(() => verifyBundle(bundle, { keys: () => undefined }), hasCode('KEY_UNKNOWN'));
    assert.throws(() => verifyBundle(bundle, { keys: () => bob.publicKey }), hasCode('SIGNATURE_INVALID'));
    const payload = Buffer.from(bundle.dsseEnvelope!.payload, 'base64').toString().replace('"x":1', '"x":2');
    const tampered = {
      ...bundle,
      dsseEnvelope: { ...bundle.dsseEnvelope!, payload: Buffer.from(payload).toString('base64') },
    };
    assert.throws(() => verifyBundle(tampered, { keys }), hasCode('SIGNATURE_INVALID'));
  });

  test('refuses a tlog entry about another signature, digest, kind or key', async () => {
    const good = await messageBundle(alice);
    const signature = Buffer.from(good.messageSignature!.signature, 'base64');
    const bodies = [
      hashedrekordBody({
        digestHex: image.slice(7),
        signature: Buffer.from('other'),
        publicKeyPem: pairs.alice.publicKeyPem,
      }),
      hashedrekordBody({ digestHex: 'ab'.repeat(32), signature, publicKeyPem: pairs.alice.publicKeyPem }),
      hashedrekordBody({ digestHex: image.slice(7), signature, publicKeyPem: pairs.bob.publicKeyPem }),
      {
        ...hashedrekordBody({ digestHex: image.slice(7), signature, publicKeyPem: pairs.alice.publicKeyPem }),
        kind: 'dsse',
      },
    ];
    for (const body of bodies) {
      const bundle = { ...good, verificationMaterial: { ...good.verificationMaterial, tlogEntries: [logged(body)] } };
      assert.throws(() => verifyBundle(bundle, { artifact: manifest, keys }), hasCode('BUNDLE_INVALID'));
    }
    const dsse = await dsseBundle(alice);
    const mixed = { ...dsse, verificationMaterial: good.verificationMaterial };
    assert.throws(() => verifyBundle(mixed, { keys }), hasCode('BUNDLE_INVALID'));
  });

  test('refuses a DSSE bundle whose payload is not an in-toto statement', async () => {
    const bundle = await dsseBundle(alice, (e) => ({ ...e, payloadType: 'text/plain' }));
    assert.throws(() => verifyBundle(bundle, { keys }), hasCode('BUNDLE_INVALID'));
  });
});
