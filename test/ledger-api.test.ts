// The ledger over HTTP, in process on every engine: registry events reach the ledger, entries come with
// proofs that verify against the signed checkpoint, the tlog-tiles layout is served, and /signatures
// refuses a forged signature or a token without push on the repository, logging nothing.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { canonicalBytes, digestOf } from '../src/core/index.ts';
import {
  decodeEntryBundle,
  leafHash,
  openCheckpoint,
  tilePath,
  verifyConsistency,
  verifyInclusion,
} from '../src/ledger/index.ts';
import { generateKeyPair, loadSigner } from '../src/trust/index.ts';
import { testDatabases } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';

const b64 = (s: string) => Buffer.from(s, 'base64');

async function pushManifest(h: Harness, repo: string, tag: string): Promise<string> {
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","tag":"${tag}"}`);
  const cd = digestOf(config);
  const up = await h.app.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${cd}`,
    headers: { authorization: h.auth(), 'content-type': 'application/octet-stream' },
    payload: config,
  });
  assert.equal(up.statusCode, 201, up.body);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.byteLength },
    layers: [],
  });
  const res = await h.app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag}`,
    headers: { authorization: h.auth(), 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    payload: manifest,
  });
  assert.equal(res.statusCode, 201, res.body);
  return digestOf(manifest);
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`ledger API (${database.name})`, () => {
    let h: Harness;
    let info: { origin: string; publicKey: string; size: number };
    let digest: string;
    const get = async (url: string, auth = h.auth()) =>
      h.app.inject({ method: 'GET', url, headers: { authorization: auth } });

    before(async () => {
      h = await createHarness(database);
      digest = await pushManifest(h, 'ledger/app', 'v1');
      await pushManifest(h, 'ledger/app', 'v2');
      await h.ledger.feedEvents();
      info = JSON.parse((await get('/api/v1/ledger')).body);
    });
    after(async () => h?.close());

    it('GET /ledger/digests/:digest returns the push events with proofs that verify against the checkpoint', async () => {
      const res = await get(`/api/v1/ledger/digests/${digest}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = JSON.parse(res.body) as {
        items: Array<{
          body: string;
          entry: { event: string };
          inclusionProof: { logIndex: number; treeSize: number; hashes: string[]; checkpoint: string };
        }>;
      };
      assert.ok(
        body.items.some((i) => i.entry.event === 'manifest.push'),
        JSON.stringify(body.items.map((i) => i.entry)),
      );
      const key = createPublicKey(info.publicKey);
      for (const item of body.items) {
        const p = item.inclusionProof;
        const cp = openCheckpoint(p.checkpoint, key, info.origin);
        assert.equal(cp.size, p.treeSize);
        assert.ok(verifyInclusion(p.logIndex, p.treeSize, leafHash(b64(item.body)), p.hashes.map(b64), cp.root));
      }
    });

    it('serves a consistency proof between two checkpoints, and the tlog-tiles layout', async () => {
      const first = JSON.parse((await get('/api/v1/ledger/entries/0')).body) as {
        inclusionProof: { treeSize: number; rootHash: string };
      };
      await pushManifest(h, 'ledger/app', 'v3');
      await h.ledger.feedEvents();
      const now = JSON.parse((await get('/api/v1/ledger')).body) as { size: number; rootHash: string };
      assert.ok(now.size > first.inclusionProof.treeSize);
      const proof = JSON.parse(
        (await get(`/api/v1/ledger/proof/consistency?from=${first.inclusionProof.treeSize}&to=${now.size}`)).body,
      ) as { hashes: string[] };
      assert.ok(
        verifyConsistency(
          first.inclusionProof.treeSize,
          now.size,
          proof.hashes.map(b64),
          b64(first.inclusionProof.rootHash),
          b64(now.rootHash),
        ),
      );
      const checkpoint = await get('/api/v1/ledger/checkpoint');
      assert.match(checkpoint.headers['content-type'] as string, /^text\/plain/);
      assert.equal(checkpoint.body.split('\n')[1], String(now.size));
      const width = now.size % 256;
      const tile = await get(`/api/v1/ledger/${tilePath(0, 0, width)}`);
      assert.equal(tile.statusCode, 200, tile.body);
      assert.equal(tile.rawPayload.byteLength, width * 32);
      const entries = await get(`/api/v1/ledger/tile/entries/000.p/${width}`);
      assert.equal(decodeEntryBundle(entries.rawPayload).length, width);
      assert.equal((await get('/api/v1/ledger/tile/0/1234')).statusCode, 400);
    });

    it('POST /signatures records a valid signature and returns a tlog entry; a forged one is refused and not logged', async () => {
      const signer = loadSigner(generateKeyPair('p256').privateKeyPem);
      const publicKey = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const message = canonicalBytes({ hello: 'world' });
      const signature = Buffer.from(await signer.sign(message)).toString('base64');
      const entry = {
        kind: 'hashedrekord',
        message: Buffer.from(message).toString('base64'),
        signature,
        publicKey,
        format: 'sigstore-bundle',
        subject: digest,
      };
      const post = (entries: unknown[], auth = h.auth()) =>
        h.app.inject({
          method: 'POST',
          url: '/api/v1/signatures',
          headers: { authorization: auth },
          payload: { repository: 'ledger/app', entries },
        });
      const pullOnly = await h.token(['pull']);
      await h.ledger.feedEvents();
      const before = JSON.parse((await get('/api/v1/ledger')).body).size as number;
      const forged = await post([
        { ...entry, signature: Buffer.from(await signer.sign(Buffer.from('other'))).toString('base64') },
      ]);
      assert.equal(forged.statusCode, 400, forged.body);
      assert.equal((await post([entry], h.auth(pullOnly))).statusCode, 403);
      assert.equal(JSON.parse((await get('/api/v1/ledger')).body).size, before, 'nothing may be logged');
      const ok = await post([entry]);
      assert.equal(ok.statusCode, 201, ok.body);
      const item = (
        JSON.parse(ok.body) as { items: Array<{ tlogEntry: { logIndex: string; kindVersion: { kind: string } } }> }
      ).items[0]!;
      assert.equal(item.tlogEntry.kindVersion.kind, 'hashedrekord');
      assert.equal(Number(item.tlogEntry.logIndex), before);
    });

    it('refuses anonymous callers; any token may export, only admins run the server-side verify', async () => {
      assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/ledger' })).statusCode, 401);
      const reader = await h.token(['pull']);
      const exported = await get('/api/v1/ledger/export', h.auth(reader));
      assert.equal(exported.statusCode, 200);
      assert.ok(exported.rawPayload.byteLength > 1024);
      const denied = await h.app.inject({
        method: 'POST',
        url: '/api/v1/ledger/verify',
        headers: { authorization: h.auth(reader) },
      });
      assert.equal(denied.statusCode, 403);
      const verified = await h.app.inject({
        method: 'POST',
        url: '/api/v1/ledger/verify',
        headers: { authorization: h.auth() },
      });
      assert.equal(verified.statusCode, 200, verified.body);
      // The report says what did not verify; it failed once in a loaded CI run on PostgreSQL, with the feeder
      // appending the reader token's event meanwhile, and never alone since.
      assert.equal(JSON.parse(verified.body).ok, true, verified.body);
    });
  });
}
