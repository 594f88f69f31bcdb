// Operations around the registry: /metrics, /healthz, garbage collection through the API, and the
// status endpoint, on every storage engine.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../src/core/index.ts';
import { testDatabases } from './support/databases.ts';
import { createHarness, createManualClock, type Harness } from './support/harness.ts';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function pushBlob(h: Harness, repo: string, bytes: Buffer): Promise<string> {
  const digest = digestOf(bytes);
  const res = await h.app.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
    headers: { authorization: h.auth(), 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  assert.equal(res.statusCode, 201, res.body);
  return digest;
}

async function pushImage(
  h: Harness,
  repo: string,
  tag: string,
  layer: Buffer,
): Promise<{ config: string; layer: string }> {
  const config = await pushBlob(h, repo, Buffer.from(`{"architecture":"amd64","os":"linux","tag":"${tag}"}`));
  const layerDigest = await pushBlob(h, repo, layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 44 + tag.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.byteLength }],
  });
  const res = await h.app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag}`,
    headers: { authorization: h.auth(), 'content-type': MANIFEST },
    payload: manifest,
  });
  assert.equal(res.statusCode, 201, res.body);
  return { config, layer: layerDigest };
}

async function blobFiles(h: Harness): Promise<string[]> {
  return (await readdir(join(h.dataDir, 'blobs', 'sha256'))).map((hex) => `sha256:${hex}`);
}

for (const open of await testDatabases()) {
  describe(`registry operations on ${(await open()).name}`, () => {
    let h: Harness;
    const clock = createManualClock('2026-11-22T10:00:00Z');
    before(async () => {
      h = await createHarness(await open(), { clock });
    });
    after(() => h.close());

    it('GET /healthz answers ok when the database answers', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: 'ok' });
    });

    it('GET /metrics counts requests by route kind and reports the blob store', async () => {
      await pushImage(h, 'ops/metrics', 'v1', Buffer.from('metrics layer'));
      await h.app.inject({ method: 'GET', url: '/v2/ops/metrics/manifests/v1', headers: { authorization: h.auth() } });
      const res = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /fixity_http_requests_total\{route="v2:manifest",method="PUT",status="201"\} 1/);
      assert.match(res.body, /fixity_http_requests_total\{route="v2:uploads",method="POST",status="201"\} \d+/);
      assert.match(
        res.body,
        /fixity_http_request_duration_seconds_bucket\{le="0.005",route="v2:manifest",method="GET"\}/,
      );
      assert.match(res.body, /fixity_blob_store_bytes [1-9]\d*/);
      assert.match(res.body, /fixity_uploads_in_progress 0/);
      assert.match(res.body, /fixity_http_response_bytes_total\{route="v2:manifest"\} [1-9]/);
      assert.doesNotMatch(res.body, /ops\/metrics/, 'repository names never become labels');
    });

    it('uploads in progress show in /metrics until they finish', async () => {
      const start = await h.app.inject({
        method: 'POST',
        url: '/v2/ops/up/blobs/uploads/',
        headers: { authorization: h.auth() },
      });
      assert.equal(start.statusCode, 202);
      const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /fixity_uploads_in_progress 1/);
      await h.app.inject({
        method: 'DELETE',
        url: start.headers.location as string,
        headers: { authorization: h.auth() },
      });
    });

    it('GET /api/v1/status needs a token and reports counts', async () => {
      assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/status' })).statusCode, 401);
      const res = await h.app.inject({
        method: 'GET',
        url: '/api/v1/status',
        headers: { authorization: `Bearer ${h.adminToken}` },
      });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.kind, 'Status');
      assert.ok(body.registry.manifests >= 1);
    });

    it('POST /api/v1/gc sweeps only unreferenced blobs past the grace period', async () => {
      const kept = await pushImage(h, 'ops/gc', 'v1', Buffer.from('referenced layer'));
      const loose = await pushBlob(h, 'ops/gc', Buffer.from('nobody references me'));
      const admin = { authorization: `Bearer ${h.adminToken}` };

      // Within the grace period nothing goes, even unreferenced blobs.
      const early = await h.app.inject({
        method: 'POST',
        url: '/api/v1/gc',
        headers: admin,
        payload: { graceSeconds: 3600 },
      });
      assert.equal(early.statusCode, 200, early.body);
      assert.equal(early.json().steps.find((s: { step: string }) => s.step === 'unreferenced-blobs').removed, 0);

      clock.advance(2 * 3600_000);
      const dry = await h.app.inject({
        method: 'POST',
        url: '/api/v1/gc',
        headers: admin,
        payload: { graceSeconds: 3600, dryRun: true },
      });
      const dryStep = dry.json().steps.find((s: { step: string }) => s.step === 'unreferenced-blobs');
      assert.ok(dryStep.digests.includes(loose));
      assert.ok((await blobFiles(h)).includes(loose), 'a dry run removes nothing');

      const res = await h.app.inject({
        method: 'POST',
        url: '/api/v1/gc',
        headers: admin,
        payload: { graceSeconds: 3600 },
      });
      const step = res.json().steps.find((s: { step: string }) => s.step === 'unreferenced-blobs');
      assert.equal(step.status, 'applied');
      assert.ok(step.digests.includes(loose));
      assert.ok(!step.digests.includes(kept.layer) && !step.digests.includes(kept.config));
      const files = await blobFiles(h);
      assert.ok(!files.includes(loose), 'the unreferenced file is gone');
      assert.ok(files.includes(kept.layer) && files.includes(kept.config), 'referenced files stay');
      const head = await h.app.inject({
        method: 'HEAD',
        url: `/v2/ops/gc/blobs/${loose}`,
        headers: { authorization: h.auth() },
      });
      assert.equal(head.statusCode, 404);
      const pull = await h.app.inject({
        method: 'GET',
        url: `/v2/ops/gc/blobs/${kept.layer}`,
        headers: { authorization: h.auth() },
      });
      assert.equal(pull.body, 'referenced layer');
    });

    it('POST /api/v1/gc is for admins only', async () => {
      const pusher = await h.token(['push']);
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/v1/gc',
        headers: { authorization: `Bearer ${pusher}` },
        payload: {},
      });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().error.code, 'FORBIDDEN');
    });

    it('a blob re-pushed after it was collected is stored again', async () => {
      const bytes = Buffer.from('collected then pushed again');
      const digest = await pushBlob(h, 'ops/again', bytes);
      clock.advance(2 * 3600_000);
      await h.app.inject({
        method: 'POST',
        url: '/api/v1/gc',
        headers: { authorization: `Bearer ${h.adminToken}` },
        payload: {},
      });
      assert.ok(!(await blobFiles(h)).includes(digest));
      await pushBlob(h, 'ops/again', bytes);
      const res = await h.app.inject({
        method: 'GET',
        url: `/v2/ops/again/blobs/${digest}`,
        headers: { authorization: h.auth() },
      });
      assert.equal(res.body, bytes.toString());
    });
  });
}
