import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOf } from '../core/index.ts';
import {
  legacyAttestationImage,
  legacySignatureImage,
  REKOR_BUNDLE_ANNOTATION,
  SIGNATURE_ANNOTATION,
  signatureTag,
  simpleSigningPayload,
  TLOG_ENTRY_ANNOTATION,
} from './cosign.ts';
import { signEnvelope } from './dsse.ts';
import { generateKeyPair, loadSigner } from './keys.ts';
import { parseLegacySignatureManifest } from './legacy-signatures.ts';
import { setPayload } from './rekor.ts';
import { tlogEntry } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

const digest = `sha256:${'48ec'.padEnd(64, '0')}` as const;
const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;

describe('cosign legacy format', () => {
  test('simpleSigningPayload() is byte for byte what cosign writes, optional null', () => {
    assert.equal(
      simpleSigningPayload('registry.example.com/repo', digest).toString(),
      `{"critical":{"identity":{"docker-reference":"registry.example.com/repo"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
  });

  test('simpleSigningPayload() sorts optional annotations and escapes <>& as Go does', () => {
    const payload = simpleSigningPayload('r.example/a', digest, { z: '1', a: '<&>' }).toString();
    assert.ok(payload.endsWith('"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}}'));
    assert.deepEqual(JSON.parse(payload).optional, { a: '<&>', z: '1' });
    assert.throws(() => simpleSigningPayload('r.example/a', 'sha256:nope' as typeof digest));
  });

  test('signatureTag() turns the digest into sha256-<hex>.sig (and .att)', () => {
    assert.equal(signatureTag(digest), `sha256-${digest.slice(7)}.sig`);
    assert.equal(signatureTag(digest, 'att'), `sha256-${digest.slice(7)}.att`);
  });

  test('legacySignatureImage() builds the dummy config and a layer per signature with its annotation', () => {
    const payload = simpleSigningPayload('registry.example.com/repo', digest);
    const signature = Buffer.from('a DER signature');
    const image = legacySignatureImage({ payload, signature });
    const layer = digestOf(payload);
    assert.equal(
      image.config.toString(),
      `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${layer}"]},"config":{}}`,
    );
    assert.equal(
      image.manifest.toString(),
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":${image.config.byteLength},"digest":"${digestOf(image.config)}"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":${payload.byteLength},"digest":"${layer}","annotations":{"dev.cosignproject.cosign/signature":"${signature.toString('base64')}"}}]}`,
    );
    assert.deepEqual(
      image.blobs.map((b) => b.digest),
      [digestOf(image.config), layer],
    );
    assert.deepEqual(parseLegacySignatureManifest(image.manifest), [
      {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        payloadDigest: layer,
        size: payload.byteLength,
        signature,
        annotations: { [SIGNATURE_ANNOTATION]: signature.toString('base64') },
      },
    ]);
  });

  test('legacySignatureImage() keeps several signers and writes the tlog entry and cosign bundle annotations', () => {
    const body = Buffer.from('{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}');
    const set = Buffer.from('a SET');
    const logId = 'ab'.repeat(32);
    const entry = tlogEntry({
      logIndex: 7,
      logId,
      integratedTime: 1_700_000_000,
      canonicalizedBody: body,
      inclusionProof: { logIndex: 7, rootHash: Buffer.alloc(32), treeSize: 8, hashes: [], checkpoint: 'c\n' },
      signedEntryTimestamp: set,
    });
    const image = legacySignatureImage([
      { payload: Buffer.from('one'), signature: Buffer.from('s1') },
      { payload: Buffer.from('two'), signature: Buffer.from('s2'), tlogEntry: entry, annotations: { other: 'kept' } },
    ]);
    const layers = parseLegacySignatureManifest(image.manifest);
    assert.equal(layers.length, 2);
    assert.equal(JSON.parse(image.config.toString()).history.length, 2);
    const annotations = layers[1]!.annotations;
    assert.equal(annotations.other, 'kept');
    assert.deepEqual(JSON.parse(annotations[TLOG_ENTRY_ANNOTATION]!), entry);
    const rekor = JSON.parse(annotations[REKOR_BUNDLE_ANNOTATION]!);
    assert.deepEqual(rekor, {
      SignedEntryTimestamp: set.toString('base64'),
      Payload: { body: body.toString('base64'), integratedTime: 1_700_000_000, logIndex: 7, logID: logId },
    });
    // cosign verifies the SET over exactly the fields of its Payload, canonicalised.
    const signed = setPayload({ body, integratedTime: 1_700_000_000, logIndex: 7, logId }).toString();
    assert.deepEqual(JSON.parse(signed), rekor.Payload);
    assert.equal(
      signed,
      `{"body":"${body.toString('base64')}","integratedTime":1700000000,"logID":"${logId}","logIndex":7}`,
    );
    assert.throws(
      () => legacySignatureImage({ payload: Buffer.from('x'), signature: Buffer.from('y'), tlogEntry: { bad: 1 } }),
      hasCode('TLOG_ENTRY_INVALID'),
    );
  });

  test('legacyAttestationImage() stores the DSSE envelope as the layer with predicateType and an empty signature', async () => {
    const signer = loadSigner(generateKeyPair('p256').privateKeyPem);
    const envelope = await signEnvelope(signer, 'application/vnd.in-toto+json', Buffer.from('{}'));
    const image = legacyAttestationImage({ envelope, predicateType: 'https://slsa.dev/provenance/v1' });
    const [layer] = image.layers;
    assert.equal(layer?.mediaType, 'application/vnd.dsse.envelope.v1+json');
    assert.equal(
      layer?.bytes.toString(),
      `{"payloadType":"application/vnd.in-toto+json","payload":"${envelope.payload}","signatures":[{"keyid":"${signer.keyId}","sig":"${envelope.signatures[0]!.sig}"}]}`,
    );
    assert.deepEqual(layer?.annotations, {
      [SIGNATURE_ANNOTATION]: '',
      predicateType: 'https://slsa.dev/provenance/v1',
    });
    const [read] = parseLegacySignatureManifest(image.manifest);
    assert.equal(read?.signature.byteLength, 0);
  });
});
