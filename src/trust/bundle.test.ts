import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalBytes, digestOf } from '../core/index.ts';
import { BUNDLE_MEDIA_TYPE, createBundle, parseBundle } from './bundle.ts';
import { signEnvelope } from './dsse.ts';
import { generateKeyPair, loadSigner } from './keys.ts';
import { referrerManifest } from './referrer.ts';
import { hashedrekordBody } from './rekor.ts';
import { createStatement, IN_TOTO_PAYLOAD_TYPE, PREDICATE_TYPES } from './statement.ts';
import { tlogEntry } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;
const signer = loadSigner(generateKeyPair('p256').privateKeyPem);
const manifest = Buffer.from('{"schemaVersion":2}');
const image = digestOf(manifest);

async function dsseBundle() {
  const statement = createStatement({ name: 'r.example/app', digest: image }, PREDICATE_TYPES.cosignSign);
  const envelope = await signEnvelope(signer, IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement));
  return createBundle({ keyId: signer.keyId, content: { kind: 'dsse', envelope } });
}

describe('Sigstore bundle v0.3', () => {
  test('createBundle() writes a message signature with its SHA2_256 digest and the key id as hint', async () => {
    const signature = await signer.sign(manifest);
    const bundle = createBundle({
      keyId: signer.keyId,
      content: { kind: 'message-signature', digest: image, signature },
    });
    assert.deepEqual(bundle, {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: signer.keyId }, tlogEntries: [] },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(image.slice(7), 'hex').toString('base64') },
        signature: Buffer.from(signature).toString('base64'),
      },
    });
    assert.deepEqual(parseBundle(JSON.stringify(bundle)), bundle);
  });

  test('createBundle() carries a DSSE envelope whose one keyid is the hint, and checks tlog entries', async () => {
    const bundle = await dsseBundle();
    assert.equal(bundle.dsseEnvelope?.signatures[0]?.keyid, bundle.verificationMaterial.publicKey.hint);
    assert.deepEqual(parseBundle(Buffer.from(JSON.stringify(bundle))), bundle);
    const other = { ...bundle.dsseEnvelope!, signatures: [{ keyid: 'someone-else', sig: 'AA==' }] };
    assert.throws(
      () => createBundle({ keyId: signer.keyId, content: { kind: 'dsse', envelope: other } }),
      hasCode('BUNDLE_INVALID'),
    );
    const content = { kind: 'message-signature' as const, digest: image, signature: Buffer.from('s') };
    assert.throws(
      () => createBundle({ keyId: 'k', content, tlogEntries: [{ logIndex: 'x' }] }),
      hasCode('TLOG_ENTRY_INVALID'),
    );
    const body = canonicalBytes(
      hashedrekordBody({ digestHex: image.slice(7), signature: Buffer.from('s'), publicKeyPem: 'k' }),
    );
    const entry = tlogEntry({
      logIndex: 0,
      logId: '00'.repeat(32),
      integratedTime: 1,
      canonicalizedBody: body,
      inclusionProof: { logIndex: 0, rootHash: Buffer.alloc(32), treeSize: 1, hashes: [], checkpoint: 'c' },
    });
    assert.deepEqual(createBundle({ keyId: 'k', content, tlogEntries: [entry] }).verificationMaterial.tlogEntries, [
      entry,
    ]);
  });

  test('parseBundle() refuses malformed bundles with BUNDLE_INVALID and says what is wrong', async () => {
    const good = await dsseBundle();
    const message = { messageDigest: { algorithm: 'SHA2_256', digest: 'AA==' }, signature: 'AA==' };
    const { publicKey: _, ...noKey } = good.verificationMaterial;
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, mediaType: 'application/json' }, /mediaType/],
      [{ ...good, messageSignature: message }, /exactly one of/],
      [{ mediaType: BUNDLE_MEDIA_TYPE, verificationMaterial: good.verificationMaterial }, /exactly one of/],
      [
        { ...good, verificationMaterial: { ...noKey, certificate: { rawBytes: 'AA==' } } },
        /certificates are not supported/,
      ],
      [{ ...good, dsseEnvelope: { ...good.dsseEnvelope, signatures: [] } }, /exactly one signature/],
      [{ ...good, dsseEnvelope: { ...good.dsseEnvelope, signatures: [{ keyid: 'x', sig: 'AA==' }] } }, /keyid differs/],
      [
        { ...good, verificationMaterial: { ...good.verificationMaterial, tlogEntries: [{}] } },
        /tlogEntries\.0\.logIndex/,
      ],
      [
        {
          ...good,
          messageSignature: { ...message, messageDigest: { algorithm: 'SHA2_384', digest: 'AA==' } },
          dsseEnvelope: undefined,
        },
        /algorithm/,
      ],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseBundle(JSON.stringify(value)),
        (e: unknown) => hasCode('BUNDLE_INVALID')(e) && message.test((e as Error).message),
      );
    }
    assert.throws(() => parseBundle('{'), hasCode('BUNDLE_INVALID'));
  });

  test('referrerManifest() is the cosign v3 layout: artifactType, empty config, one bundle layer, subject, annotations', async () => {
    const bundle = Buffer.from(JSON.stringify(await dsseBundle()));
    const subject = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: image,
      size: manifest.byteLength,
    };
    const referrer = referrerManifest(bundle, subject, { created: new Date('2026-01-02T03:04:05.678Z') });
    const doc = JSON.parse(referrer.manifest.toString());
    const bundleDigest = digestOf(bundle);
    assert.deepEqual(doc, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        size: 2,
      },
      layers: [
        {
          mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          digest: bundleDigest,
          size: bundle.byteLength,
          annotations: { 'org.opencontainers.image.title': `sha256-${bundleDigest.slice(7)}.sigstore.json` },
        },
      ],
      subject,
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
        'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
      },
    });
    assert.deepEqual(referrer.annotations, doc.annotations);
    assert.deepEqual(
      referrer.blobs.map((b) => [b.digest, b.bytes.byteLength]),
      [
        [doc.config.digest, 2],
        [bundleDigest, bundle.byteLength],
      ],
    );
    assert.equal(digestOf(referrer.blobs[0]!.bytes), doc.config.digest);

    const signature = await signer.sign(manifest);
    const message = createBundle({
      keyId: signer.keyId,
      content: { kind: 'message-signature', digest: image, signature },
    });
    const plain = referrerManifest(Buffer.from(JSON.stringify(message)), subject, {
      created: new Date(0),
      predicateType: 'x',
    });
    assert.equal(plain.annotations['dev.sigstore.bundle.content'], 'message-signature');
    assert.equal(plain.annotations['dev.sigstore.bundle.predicateType'], 'x');
    assert.throws(
      () => referrerManifest(Buffer.from('{}'), subject, { created: new Date(0) }),
      hasCode('BUNDLE_INVALID'),
    );
  });
});
