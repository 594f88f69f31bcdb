import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalBytes } from '../core/index.ts';
import { signEnvelope } from './dsse.ts';
import { generateKeyPair, loadSigner } from './keys.ts';
import { dsseBody, hashedrekordBody, setPayload } from './rekor.ts';
import { decodeTlogEntry, parseTlogEntry, tlogEntry } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const pair = generateKeyPair('p256');

describe('Rekor-shaped entries', () => {
  test('hashedrekordBody() follows the hashedrekord 0.0.1 schema, key as base64 PEM', () => {
    const body = hashedrekordBody({
      digestHex: 'ab'.repeat(32),
      signature: Buffer.from('sig'),
      publicKeyPem: pair.publicKeyPem,
    });
    assert.deepEqual(body, {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: 'ab'.repeat(32) } },
        signature: { content: 'c2ln', publicKey: { content: Buffer.from(pair.publicKeyPem).toString('base64') } },
      },
    });
    assert.throws(
      () => hashedrekordBody({ digestHex: 'AB'.repeat(32), signature: Buffer.alloc(1), publicKeyPem: '' }),
      hasCode('TLOG_ENTRY_INVALID'),
    );
  });

  test('dsseBody() follows the dsse 0.0.1 schema: envelope and payload hashes, one signature and its verifier', async () => {
    const signer = loadSigner(pair.privateKeyPem);
    const envelope = await signEnvelope(signer, 'application/vnd.in-toto+json', Buffer.from('{"a":1}'));
    const body = dsseBody({ envelope, publicKeyPem: pair.publicKeyPem });
    assert.deepEqual(body.spec, {
      envelopeHash: { algorithm: 'sha256', value: sha256(canonicalBytes(envelope)) },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from('{"a":1}')) },
      signatures: [
        { signature: envelope.signatures[0]!.sig, verifier: Buffer.from(pair.publicKeyPem).toString('base64') },
      ],
    });
    const twice = { ...envelope, signatures: [...envelope.signatures, ...envelope.signatures] };
    assert.throws(() => dsseBody({ envelope: twice, publicKeyPem: pair.publicKeyPem }), hasCode('ENVELOPE_INVALID'));
  });

  test('setPayload() is the canonical JSON sigstore-js rebuilds: body base64, logID hex, keys sorted', () => {
    const text = setPayload({
      body: Buffer.from('{}'),
      integratedTime: 1700000000,
      logIndex: 3,
      logId: 'cd'.repeat(32),
    });
    assert.equal(
      text.toString(),
      `{"body":"e30=","integratedTime":1700000000,"logID":"${'cd'.repeat(32)}","logIndex":3}`,
    );
  });

  test('tlogEntry() writes protobuf-JSON (int64 strings, base64 bytes) that decodeTlogEntry() reads back', () => {
    const body = canonicalBytes({
      ...hashedrekordBody({ digestHex: 'ab'.repeat(32), signature: Buffer.from('s'), publicKeyPem: 'k' }),
      event: 'signature',
    });
    const proof = {
      logIndex: 5,
      rootHash: Buffer.alloc(32, 1),
      treeSize: 9,
      hashes: [Buffer.alloc(32, 2), Buffer.alloc(32, 3)],
      checkpoint: 'origin\n9\nAQ==\n\n— origin AAAA\n',
    };
    const entry = tlogEntry({
      logIndex: 5,
      logId: 'ef'.repeat(32),
      integratedTime: 1700000001,
      canonicalizedBody: body,
      inclusionProof: proof,
      signedEntryTimestamp: Buffer.from('set'),
    });
    assert.deepEqual(entry, {
      logIndex: '5',
      logId: { keyId: Buffer.from('ef'.repeat(32), 'hex').toString('base64') },
      kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
      integratedTime: '1700000001',
      inclusionPromise: { signedEntryTimestamp: Buffer.from('set').toString('base64') },
      inclusionProof: {
        logIndex: '5',
        rootHash: proof.rootHash.toString('base64'),
        treeSize: '9',
        hashes: proof.hashes.map((h) => h.toString('base64')),
        checkpoint: { envelope: proof.checkpoint },
      },
      canonicalizedBody: Buffer.from(body).toString('base64'),
    });
    assert.deepEqual(parseTlogEntry(JSON.parse(JSON.stringify(entry))), entry);
    assert.deepEqual(decodeTlogEntry(entry), {
      logIndex: 5,
      logId: 'ef'.repeat(32),
      kind: 'hashedrekord',
      version: '0.0.1',
      integratedTime: 1700000001,
      canonicalizedBody: Buffer.from(body),
      signedEntryTimestamp: Buffer.from('set'),
      inclusionProof: {
        logIndex: 5,
        rootHash: proof.rootHash,
        treeSize: 9,
        hashes: proof.hashes,
        checkpoint: proof.checkpoint,
      },
    });
  });

  test('tlogEntry() refuses a body that is not a hashedrekord or dsse entry unless told the kind', () => {
    const input = {
      logIndex: 0,
      logId: '00'.repeat(32),
      integratedTime: 0,
      canonicalizedBody: Buffer.from('{"kind":"rekord"}'),
      inclusionProof: { logIndex: 0, rootHash: Buffer.alloc(32), treeSize: 1, hashes: [], checkpoint: '' },
    };
    assert.throws(() => tlogEntry(input), hasCode('TLOG_ENTRY_INVALID'));
    assert.equal(tlogEntry({ ...input, kind: 'dsse' }).kindVersion.kind, 'dsse');
  });

  test('parseTlogEntry() refuses malformed entries and accepts numbers for int64 fields', () => {
    const good = {
      logIndex: 1,
      logId: { keyId: 'AA==' },
      kindVersion: { kind: 'dsse', version: '0.0.1' },
      integratedTime: '2',
      canonicalizedBody: 'e30=',
    };
    assert.equal(parseTlogEntry(good).logIndex, '1');
    for (const bad of [
      { ...good, logIndex: -1 },
      { ...good, logIndex: '1e3' },
      { ...good, canonicalizedBody: '' },
      { ...good, logId: { keyId: '%%' } },
      { ...good, integratedTime: '99999999999999999' },
    ]) {
      assert.throws(() => parseTlogEntry(bad), hasCode('TLOG_ENTRY_INVALID'));
    }
  });
});
