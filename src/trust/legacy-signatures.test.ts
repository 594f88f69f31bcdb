import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Digest, digestOf, verifyDigest } from '../core/index.ts';
import type { ImageReference } from '../oci/index.ts';
import { legacySignatureImage, SIGNATURE_ANNOTATION, signatureTag, simpleSigningPayload } from './cosign.ts';
import { parseLegacySignatureManifest, readLegacySignatures } from './legacy-signatures.ts';
import { tlogEntry } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;
const ref = { registry: 'r.example', repository: 'app' } as ImageReference;

// The one registry method reading needs, over blobs held in memory, digest-checked like the real client.
function memoryRegistry(blobs: Array<{ digest: Digest; bytes: Buffer }>) {
  const store = new Map(blobs.map((b) => [b.digest, b.bytes]));
  return {
    getBlob(_ref: ImageReference, digest: Digest, size?: number) {
      const bytes = store.get(digest) ?? Buffer.from('missing');
      return verifyDigest(
        (async function* () {
          yield bytes;
        })(),
        digest,
        size === undefined ? {} : { size },
      );
    },
  };
}

describe('reading legacy signatures back', () => {
  test('readLegacySignatures() returns each payload with its signature and tlog entry, ready to append to', async () => {
    const image = digestOf('manifest');
    const payload = simpleSigningPayload('r.example/app', image);
    const entry = tlogEntry({
      logIndex: 1,
      logId: '22'.repeat(32),
      integratedTime: 5,
      canonicalizedBody: Buffer.from('{"kind":"hashedrekord"}'),
      inclusionProof: {
        logIndex: 1,
        rootHash: Buffer.alloc(32),
        treeSize: 2,
        hashes: [Buffer.alloc(32)],
        checkpoint: 'c\n',
      },
    });
    const first = legacySignatureImage({ payload, signature: Buffer.from('sig-1'), tlogEntry: entry });
    const read = await readLegacySignatures(first.manifest, memoryRegistry(first.blobs), ref);
    assert.equal(read.length, 1);
    assert.deepEqual(read[0]?.payload, payload);
    assert.deepEqual(read[0]?.signature, Buffer.from('sig-1'));
    assert.deepEqual(read[0]?.tlogEntry, entry);
    const second = legacySignatureImage([...read, { payload, signature: Buffer.from('sig-2') }]);
    const again = await readLegacySignatures(second.manifest, memoryRegistry(second.blobs), ref);
    assert.deepEqual(
      again.map((s) => s.signature.toString()),
      ['sig-1', 'sig-2'],
    );
    assert.deepEqual(again[0]?.annotations, read[0]?.annotations, "the first signer's layer is unchanged");
    assert.equal(signatureTag(image), `sha256-${image.slice(7)}.sig`);
  });

  test('readLegacySignatures() refuses a payload that does not hash to its digest, or is claimed huge', async () => {
    const payload = simpleSigningPayload('r.example/app', digestOf('m'));
    const image = legacySignatureImage({ payload, signature: Buffer.from('s') });
    const swapped = memoryRegistry([
      { digest: image.layers[0]!.digest, bytes: Buffer.from(payload.toString().replace('app', 'evil')) },
    ]);
    await assert.rejects(readLegacySignatures(image.manifest, swapped, ref));
    const huge = JSON.parse(image.manifest.toString());
    huge.layers[0].size = 2 ** 30;
    await assert.rejects(
      readLegacySignatures(Buffer.from(JSON.stringify(huge)), memoryRegistry(image.blobs), ref),
      hasCode('SIGNATURE_MANIFEST_INVALID'),
    );
    const badEntry = JSON.parse(image.manifest.toString());
    badEntry.layers[0].annotations['dev.fixity.ledger/tlog-entry'] = '{not json';
    await assert.rejects(
      readLegacySignatures(Buffer.from(JSON.stringify(badEntry)), memoryRegistry(image.blobs), ref),
      hasCode('SIGNATURE_MANIFEST_INVALID'),
    );
    assert.equal(JSON.parse(image.manifest.toString()).layers[0].annotations[SIGNATURE_ANNOTATION], 'cw==');
  });

  test('parseLegacySignatureManifest() refuses malformed manifests and skips foreign layers', () => {
    for (const bad of ['nope', '{"layers":{}}', '{"layers":[{"mediaType":"x","digest":"sha256:1","size":1}]}']) {
      assert.throws(() => parseLegacySignatureManifest(Buffer.from(bad)), hasCode('SIGNATURE_MANIFEST_INVALID'));
    }
    const foreign = { mediaType: 'application/octet-stream', digest: digestOf('x'), size: 1 };
    assert.deepEqual(parseLegacySignatureManifest(Buffer.from(JSON.stringify({ layers: [foreign] }))), []);
    const unsigned = { ...foreign, mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json' };
    assert.throws(
      () => parseLegacySignatureManifest(Buffer.from(JSON.stringify({ layers: [unsigned] }))),
      hasCode('SIGNATURE_MANIFEST_INVALID'),
    );
  });
});
