// Distribution-spec v1.1.1 conformance, "Pull" workflow (conformance/01_pull_test.go), for every engine:
// blobs and manifests by digest and tag with HEAD and GET, byte ranges, and the error body on 4xx.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';
import {
  assertOCIError,
  blob,
  client,
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_MANIFEST,
  descriptor,
  digestOf,
  freshRepo,
  imageManifest,
  indexManifest,
  manifestDescriptor,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  uniqueBytes,
} from './support/registry-client.ts';

const MISSING = digestOf('nothing was ever pushed with these bytes');

for (const engine of await testDatabases()) {
  describe(`registry pull (${engine.name.replace('Database', '')})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;
    const repo = freshRepo('pull/app');
    let image: Awaited<ReturnType<ReturnType<typeof client>['pushImage']>>;

    before(async () => {
      h = await createHarness(await engine());
      c = client(h);
      image = await c.pushImage(repo, 'v1', { layers: 2 });
    });
    after(() => h.close());

    it('GET /v2/ answers 200 with the API version header', async () => {
      const res = await c.request('GET', '/v2/');
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    });

    it('HEAD on an existing blob answers 200 with Content-Length and Docker-Content-Digest, no body', async () => {
      const layer = image.layers[0]!;
      const res = await c.request('HEAD', `/v2/${repo}/blobs/${layer.digest}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-length'], String(layer.size));
      assert.equal(res.headers['docker-content-digest'], layer.digest);
      assert.equal(res.rawPayload.byteLength, 0);
    });

    it('GET on an existing blob returns its exact bytes', async () => {
      const layer = image.layers[1]!;
      const res = await c.request('GET', `/v2/${repo}/blobs/${layer.digest}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['docker-content-digest'], layer.digest);
      assert.equal(res.headers['content-length'], String(layer.size));
      assert.deepEqual(res.rawPayload, layer.bytes);
    });

    it('HEAD and GET on a missing blob answer 404 (GET with BLOB_UNKNOWN)', async () => {
      const head = await c.request('HEAD', `/v2/${repo}/blobs/${MISSING}`);
      assert.equal(head.statusCode, 404);
      assert.equal(head.rawPayload.byteLength, 0);
      assertOCIError(await c.request('GET', `/v2/${repo}/blobs/${MISSING}`), 404, 'BLOB_UNKNOWN');
    });

    it('a blob pushed to one repository is not visible in another', async () => {
      const other = freshRepo('pull/other');
      await c.pushImage(other, 'x');
      assertOCIError(await c.request('GET', `/v2/${other}/blobs/${image.config.digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('GET with Range: bytes=a-b answers 206 with Content-Range and the slice', async () => {
      const layer = image.layers[0]!;
      const res = await c.request('GET', `/v2/${repo}/blobs/${layer.digest}`, { headers: { range: 'bytes=10-19' } });
      assert.equal(res.statusCode, 206);
      assert.equal(res.headers['content-range'], `bytes 10-19/${layer.size}`);
      assert.equal(res.headers['content-length'], '10');
      assert.deepEqual(res.rawPayload, layer.bytes.subarray(10, 20));
    });

    it('GET with open-ended and suffix ranges serves the right slices', async () => {
      const layer = image.layers[0]!;
      const url = `/v2/${repo}/blobs/${layer.digest}`;
      const tail = await c.request('GET', url, { headers: { range: `bytes=${layer.size - 5}-` } });
      assert.equal(tail.statusCode, 206);
      assert.equal(tail.headers['content-range'], `bytes ${layer.size - 5}-${layer.size - 1}/${layer.size}`);
      assert.deepEqual(tail.rawPayload, layer.bytes.subarray(layer.size - 5));
      const suffix = await c.request('GET', url, { headers: { range: 'bytes=-7' } });
      assert.equal(suffix.statusCode, 206);
      assert.deepEqual(suffix.rawPayload, layer.bytes.subarray(layer.size - 7));
      // An end past the blob is clamped to its last byte (RFC 9110 §14.1.2).
      const clamped = await c.request('GET', url, { headers: { range: `bytes=0-${layer.size + 100}` } });
      assert.equal(clamped.statusCode, 206);
      assert.deepEqual(clamped.rawPayload, layer.bytes);
    });

    it('GET with an unsatisfiable range answers 416 with Content-Range: bytes */size', async () => {
      const layer = image.layers[0]!;
      for (const range of [`bytes=${layer.size}-`, `bytes=${layer.size + 10}-${layer.size + 20}`, 'bytes=5-2']) {
        const res = await c.request('GET', `/v2/${repo}/blobs/${layer.digest}`, { headers: { range } });
        assert.equal(res.statusCode, 416, range);
        assert.equal(res.headers['content-range'], `bytes */${layer.size}`, range);
        assertOCIError(res, 416, ['BLOB_UPLOAD_INVALID', 'RANGE_INVALID', 'SIZE_INVALID']);
      }
    });

    it('HEAD on a manifest by digest and by tag answers 200 with digest, length and type', async () => {
      const m = image.manifest;
      for (const ref of [m.digest, 'v1']) {
        const res = await c.request('HEAD', `/v2/${repo}/manifests/${ref}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(res.statusCode, 200, ref);
        assert.equal(res.headers['docker-content-digest'], m.digest);
        assert.equal(res.headers['content-length'], String(m.size));
        assert.equal(res.headers['content-type'], OCI_MANIFEST);
        assert.equal(res.rawPayload.byteLength, 0);
      }
    });

    it('GET on a manifest by digest and by tag returns the pushed bytes and media type', async () => {
      const m = image.manifest;
      for (const ref of [m.digest, 'v1']) {
        const res = await c.request('GET', `/v2/${repo}/manifests/${ref}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(res.statusCode, 200, ref);
        assert.equal(res.headers['content-type'], OCI_MANIFEST);
        assert.equal(res.headers['docker-content-digest'], m.digest);
        assert.deepEqual(res.rawPayload, m.bytes);
        assert.equal(digestOf(res.rawPayload), m.digest);
      }
    });

    it('HEAD and GET on a missing manifest answer 404 MANIFEST_UNKNOWN, by tag and by digest', async () => {
      for (const ref of ['no-such-tag', MISSING]) {
        const head = await c.request('HEAD', `/v2/${repo}/manifests/${ref}`);
        assert.equal(head.statusCode, 404, ref);
        assertOCIError(await c.request('GET', `/v2/${repo}/manifests/${ref}`), 404, 'MANIFEST_UNKNOWN');
      }
    });

    it('a manifest in an unknown repository answers 404 with an OCI error code', async () => {
      const res = await c.request('GET', `/v2/${freshRepo('pull/never')}/manifests/v1`);
      assertOCIError(res, 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    });

    it('Content-Type of GET equals the pushed media type for every manifest kind', async () => {
      const r = freshRepo('pull/types');
      const cfg = blob(uniqueBytes('docker-config'));
      const layer = blob(uniqueBytes('docker-layer'));
      for (const b of [cfg, layer]) assert.equal((await c.pushBlob(r, b)).statusCode, 201);
      const docker = imageManifest({
        mediaType: DOCKER_MANIFEST,
        config: descriptor(cfg, DOCKER_CONFIG),
        layers: [descriptor(layer, DOCKER_LAYER)],
      });
      const oci = imageManifest({ config: descriptor(cfg, OCI_CONFIG), layers: [descriptor(layer, OCI_LAYER)] });
      for (const m of [docker, oci]) assert.equal((await c.pushManifest(r, m.digest, m)).statusCode, 201);
      const index = indexManifest([manifestDescriptor(oci, { platform: { os: 'linux', architecture: 'amd64' } })]);
      assert.equal((await c.pushManifest(r, 'multi', index)).statusCode, 201);
      for (const m of [docker, oci, index]) {
        const res = await c.request('GET', `/v2/${r}/manifests/${m.digest}`);
        assert.equal(res.headers['content-type'], m.mediaType);
        assert.deepEqual(res.rawPayload, m.bytes);
      }
      const byTag = await c.request('GET', `/v2/${r}/manifests/multi`, { headers: { accept: OCI_INDEX } });
      assert.equal(byTag.headers['content-type'], OCI_INDEX);
    });

    it('an Accept that omits the stored type gets the stored bytes unconverted, or 404', async () => {
      const res = await c.request('GET', `/v2/${repo}/manifests/v1`, { headers: { accept: DOCKER_MANIFEST } });
      assert.ok([200, 404].includes(res.statusCode), `${res.statusCode}`);
      if (res.statusCode === 200) {
        assert.equal(res.headers['content-type'], OCI_MANIFEST);
        assert.deepEqual(res.rawPayload, image.manifest.bytes);
      }
    });

    it('range units are case-insensitive', async () => {
      const layer = image.layers[0]!;
      const res = await c.request('GET', `/v2/${repo}/blobs/${layer.digest}`, { headers: { range: 'Bytes=0-3' } });
      assert.equal(res.statusCode, 206);
      assert.deepEqual(res.rawPayload, layer.bytes.subarray(0, 4));
    });

    it('4xx bodies are OCI error JSON: a PUT to sha256:totallywrong', async () => {
      const res = await c.request('PUT', `/v2/${repo}/manifests/sha256:totallywrong`, {
        headers: { 'content-type': OCI_MANIFEST },
        payload: '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}',
      });
      assertOCIError(res, 400, ['DIGEST_INVALID', 'MANIFEST_INVALID']);
    });
  });
}
