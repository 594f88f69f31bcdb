// Distribution-spec v1.1.1 conformance, "Push" workflow (conformance/02_push_test.go), for every engine:
// monolithic, single-POST, streamed and chunked uploads, upload status and cancel, cross-repository mounts,
// and manifest uploads of every kind the registry accepts.
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
  DOCKER_LIST,
  DOCKER_MANIFEST,
  descriptor,
  digestOf,
  EMPTY,
  freshRepo,
  imageManifest,
  indexManifest,
  manifestDescriptor,
  manifestOf,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  type Response,
  uniqueBytes,
} from './support/registry-client.ts';

const OCTET = { 'content-type': 'application/octet-stream' };

/** `location` with `digest` added to its query, as clients must (it may already carry one). */
function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
}

function location(res: Response): string {
  const value = res.headers.location;
  assert.equal(typeof value, 'string', `no Location in ${res.statusCode} ${JSON.stringify(res.headers)}`);
  return value as string;
}

for (const engine of await testDatabases()) {
  describe(`registry push (${engine.name.replace('Database', '')})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;

    before(async () => {
      h = await createHarness(await engine());
      c = client(h);
    });
    after(() => h.close());

    const startUpload = async (repo: string): Promise<string> => {
      const res = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } });
      assert.equal(res.statusCode, 202, res.body);
      return location(res);
    };

    describe('blob upload, streamed and monolithic', () => {
      it('POST then PATCH (no Content-Range) then PUT ?digest= answers 202, 202, 201', async () => {
        const repo = freshRepo('push/streamed');
        const b = blob(uniqueBytes('streamed', 1000));
        const url = await startUpload(repo);
        const patch = await c.request('PATCH', url, { headers: OCTET, payload: b.bytes });
        assert.equal(patch.statusCode, 202);
        assert.equal(patch.headers.range, `0-${b.size - 1}`);
        const put = await c.request('PUT', withDigest(location(patch), b.digest), {
          headers: { ...OCTET, 'content-length': '0' },
        });
        assert.equal(put.statusCode, 201, put.body);
        assert.equal(location(put), `/v2/${repo}/blobs/${b.digest}`);
        assert.equal(put.headers['docker-content-digest'], b.digest);
        const get = await c.request('GET', location(put));
        assert.equal(get.statusCode, 200);
        assert.deepEqual(get.rawPayload, b.bytes);
      });

      it('POST then PUT with the whole blob (monolithic) answers 202 then 201', async () => {
        const repo = freshRepo('push/mono');
        const b = blob(uniqueBytes('mono', 300));
        const missing = await c.request('GET', `/v2/${repo}/blobs/${b.digest}`);
        assert.equal(missing.statusCode, 404);
        const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
        assert.equal(post.statusCode, 202);
        assert.ok(post.headers['docker-upload-uuid'] !== undefined || location(post).length > 0);
        const put = await c.request('PUT', withDigest(location(post), b.digest), { headers: OCTET, payload: b.bytes });
        assert.equal(put.statusCode, 201, put.body);
        assert.ok(location(put).length > 0);
        assert.equal((await c.request('GET', `/v2/${repo}/blobs/${b.digest}`)).statusCode, 200);
      });

      it('a single POST ?digest= with the body answers 201 with Location (or 202 to continue)', async () => {
        const repo = freshRepo('push/single');
        const b = blob(uniqueBytes('single', 200));
        const res = await c.pushBlob(repo, b);
        assert.ok([201, 202].includes(res.statusCode), `${res.statusCode}`);
        assert.ok(location(res).length > 0);
        const get = await c.request('GET', `/v2/${repo}/blobs/${b.digest}`);
        assert.equal(get.statusCode, res.statusCode === 201 ? 200 : 404);
        if (res.statusCode === 201) {
          assert.equal(res.headers['docker-content-digest'], b.digest);
          assert.deepEqual(get.rawPayload, b.bytes);
        }
      });

      it('an empty blob (0 bytes) uploads and reads back', async () => {
        const repo = freshRepo('push/empty');
        const b = blob(Buffer.alloc(0));
        assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
        const head = await c.request('HEAD', `/v2/${repo}/blobs/${b.digest}`);
        assert.equal(head.statusCode, 200);
        assert.equal(head.headers['content-length'], '0');
      });

      it('pushing the same blob twice is idempotent', async () => {
        const repo = freshRepo('push/twice');
        const b = blob(uniqueBytes('twice'));
        assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
        assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
        assert.equal((await c.request('GET', `/v2/${repo}/blobs/${b.digest}`)).statusCode, 200);
      });
    });

    describe('blob upload, chunked', () => {
      const repo = freshRepo('push/chunked');
      const b = blob(uniqueBytes('chunked', 2048));
      const first = b.bytes.subarray(0, 1024);
      const second = b.bytes.subarray(1024);
      const chunk = (bytes: Buffer, start: number) => ({
        headers: {
          ...OCTET,
          'content-length': String(bytes.byteLength),
          'content-range': `${start}-${start + bytes.byteLength - 1}`,
        },
        payload: bytes,
      });

      it('an out-of-order first chunk answers 416', async () => {
        const url = await startUpload(repo);
        const res = await c.request('PATCH', url, chunk(second, 1024));
        assert.equal(res.statusCode, 416);
        // Nothing was written: the session still holds 0 bytes.
        const status = await c.request('GET', url);
        assert.equal(status.statusCode, 204);
        assert.equal(status.headers.range, '0-0');
      });

      it('chunks in order answer 202 with Range 0-<end> and Location; retries and stale reads behave', async () => {
        const url = await startUpload(repo);
        const one = await c.request('PATCH', url, chunk(first, 0));
        assert.equal(one.statusCode, 202, one.body);
        assert.equal(one.headers.range, '0-1023');
        assert.ok(location(one).length > 0);

        // Retrying the previous chunk is out of order now.
        const retry = await c.request('PATCH', url, chunk(first, 0));
        assert.equal(retry.statusCode, 416);

        // GET on the (stale) session URL: 204 with Range and Location.
        const status = await c.request('GET', url);
        assert.equal(status.statusCode, 204);
        assert.equal(status.headers.range, '0-1023');
        assert.ok(location(status).length > 0);

        const two = await c.request('PATCH', location(status), chunk(second, 1024));
        assert.equal(two.statusCode, 202, two.body);
        assert.equal(two.headers.range, `0-${b.size - 1}`);

        const put = await c.request('PUT', withDigest(location(two), b.digest), {
          headers: { ...OCTET, 'content-length': '0' },
        });
        assert.equal(put.statusCode, 201, put.body);
        const get = await c.request('GET', `/v2/${repo}/blobs/${b.digest}`);
        assert.deepEqual(get.rawPayload, b.bytes);
      });

      it('the last chunk may ride on the closing PUT with its Content-Range', async () => {
        const other = blob(uniqueBytes('chunked-put', 600));
        const url = await startUpload(repo);
        const one = await c.request('PATCH', url, chunk(other.bytes.subarray(0, 400), 0));
        assert.equal(one.statusCode, 202);
        const put = await c.request(
          'PUT',
          withDigest(location(one), other.digest),
          chunk(other.bytes.subarray(400), 400),
        );
        assert.equal(put.statusCode, 201, put.body);
        assert.deepEqual((await c.request('GET', `/v2/${repo}/blobs/${other.digest}`)).rawPayload, other.bytes);
      });

      it('overlapping and skipping chunk ranges answer 416 and leave the session intact', async () => {
        const url = await startUpload(repo);
        assert.equal((await c.request('PATCH', url, chunk(first, 0))).statusCode, 202);
        const overlap = await c.request('PATCH', url, chunk(second, 1000));
        assert.equal(overlap.statusCode, 416);
        const skip = await c.request('PATCH', url, chunk(second, 1030));
        assert.equal(skip.statusCode, 416);
        // A range whose length disagrees with the body is refused too.
        const liar = await c.request('PATCH', url, {
          headers: { ...OCTET, 'content-length': String(second.byteLength), 'content-range': '1024-1100' },
          payload: second,
        });
        assert.equal(liar.statusCode, 416);
        const status = await c.request('GET', url);
        assert.equal(status.headers.range, '0-1023');
        assert.equal((await c.request('PATCH', url, chunk(second, 1024))).statusCode, 202);
        const put = await c.request('PUT', withDigest(url, b.digest), { headers: { 'content-length': '0' } });
        assert.equal(put.statusCode, 201, put.body);
      });

      it('DELETE on an upload session answers 204, then the session is gone (404 BLOB_UPLOAD_UNKNOWN)', async () => {
        const url = await startUpload(repo);
        assert.equal((await c.request('PATCH', url, chunk(first, 0))).statusCode, 202);
        const del = await c.request('DELETE', url);
        assert.equal(del.statusCode, 204);
        assertOCIError(await c.request('GET', url), 404, 'BLOB_UPLOAD_UNKNOWN');
        assertOCIError(await c.request('PATCH', url, chunk(second, 1024)), 404, 'BLOB_UPLOAD_UNKNOWN');
        assertOCIError(await c.request('DELETE', url), 404, 'BLOB_UPLOAD_UNKNOWN');
      });

      it('a finished session is gone: its URL answers 404', async () => {
        const other = blob(uniqueBytes('finished'));
        const url = await startUpload(repo);
        assert.equal((await c.request('PUT', withDigest(url, other.digest), { payload: other.bytes })).statusCode, 201);
        assertOCIError(await c.request('GET', url), 404, 'BLOB_UPLOAD_UNKNOWN');
      });
    });

    describe('cross-repository mount', () => {
      const source = freshRepo('push/mount-src');
      const target = freshRepo('push/mount-dst');
      const b = blob(uniqueBytes('mountable', 500));
      before(async () => assert.equal((await c.pushBlob(source, b)).statusCode, 201));

      it('mounting a blob from a repository the caller may pull answers 201 and makes it visible', async () => {
        const res = await c.request('POST', `/v2/${target}/blobs/uploads/?mount=${b.digest}&from=${source}`);
        assert.ok([201, 202].includes(res.statusCode), `${res.statusCode}`);
        assert.equal(res.statusCode, 201, 'Fixity mounts when the blob is in `from`');
        assert.equal(location(res), `/v2/${target}/blobs/${b.digest}`);
        assert.equal(res.headers['docker-content-digest'], b.digest);
        const get = await c.request('GET', location(res));
        assert.equal(get.statusCode, 200);
        assert.deepEqual(get.rawPayload, b.bytes);
      });

      it('mounting without `from` answers 202 with an upload session', async () => {
        const other = freshRepo('push/mount-nofrom');
        const res = await c.request('POST', `/v2/${other}/blobs/uploads/?mount=${b.digest}`);
        assert.equal(res.statusCode, 202);
        assert.ok(location(res).startsWith(`/v2/${other}/blobs/uploads/`));
        assert.equal((await c.request('GET', `/v2/${other}/blobs/${b.digest}`)).statusCode, 404);
      });

      it('mounting a blob that does not exist answers 202 with an upload session', async () => {
        const missing = digestOf('never pushed anywhere');
        const res = await c.request('POST', `/v2/${target}/blobs/uploads/?mount=${missing}&from=${source}`);
        assert.equal(res.statusCode, 202);
        const url = location(res);
        assert.ok(url.startsWith(`/v2/${target}/blobs/uploads/`));
        // The session is a normal one.
        const other = blob(uniqueBytes('after-failed-mount'));
        assert.equal((await c.request('PUT', withDigest(url, other.digest), { payload: other.bytes })).statusCode, 201);
      });

      it('mounting from a repository the token may not pull answers 202, never leaking the blob', async () => {
        const secret = freshRepo('secret/vault');
        const hidden = blob(uniqueBytes('hidden'));
        assert.equal((await c.pushBlob(secret, hidden)).statusCode, 201);
        const token = await h.token(['push'], ['team/**']);
        const dest = freshRepo('team/app');
        const res = await c.request('POST', `/v2/${dest}/blobs/uploads/?mount=${hidden.digest}&from=${secret}`, {
          auth: h.auth(token),
        });
        assert.equal(res.statusCode, 202);
        assert.equal((await c.request('GET', `/v2/${dest}/blobs/${hidden.digest}`)).statusCode, 404);
      });
    });

    describe('manifest upload', () => {
      const repo = freshRepo('push/manifests');
      let config: ReturnType<typeof blob>;
      let layer: ReturnType<typeof blob>;
      before(async () => {
        config = blob(uniqueBytes('m-config'));
        layer = blob(uniqueBytes('m-layer', 512));
        for (const b of [config, layer, blob('{}')]) assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
      });
      const image = () =>
        imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [descriptor(layer, OCI_LAYER)] });

      it('GET of a manifest never pushed answers 404', async () => {
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/never`)).statusCode, 404);
      });

      it('PUT by tag answers 201 with Location and Docker-Content-Digest, for several tags', async () => {
        const m = image();
        for (let i = 0; i < 4; i++) {
          const res = await c.pushManifest(repo, `test${i}`, m);
          assert.equal(res.statusCode, 201, res.body);
          assert.equal(res.headers['docker-content-digest'], m.digest);
          assert.equal(location(res), `/v2/${repo}/manifests/${m.digest}`);
        }
        const get = await c.request('GET', `/v2/${repo}/manifests/${m.digest}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(get.statusCode, 200);
        for (let i = 0; i < 4; i++) assert.ok((await c.tags(repo)).includes(`test${i}`));
      });

      it('PUT by digest answers 201 and creates no tag', async () => {
        const m = imageManifest({
          config: descriptor(config, OCI_CONFIG),
          layers: [descriptor(layer, OCI_LAYER)],
          annotations: { 'org.opencontainers.image.title': 'by-digest' },
        });
        const before = await c.tags(repo);
        const res = await c.pushManifest(repo, m.digest, m);
        assert.equal(res.statusCode, 201, res.body);
        assert.equal(res.headers['docker-content-digest'], m.digest);
        assert.deepEqual(await c.tags(repo), before);
      });

      it('PUT by digest with ?tag= params applies every tag', async () => {
        const m = imageManifest({
          config: descriptor(config, OCI_CONFIG),
          layers: [descriptor(layer, OCI_LAYER)],
          annotations: { purpose: 'tag-params' },
        });
        const res = await c.request('PUT', `/v2/${repo}/manifests/${m.digest}?tag=p1&tag=p2`, {
          headers: { 'content-type': m.mediaType },
          payload: m.bytes,
        });
        assert.equal(res.statusCode, 201, res.body);
        for (const t of ['p1', 'p2']) {
          const got = await c.request('HEAD', `/v2/${repo}/manifests/${t}`);
          assert.equal(got.headers['docker-content-digest'], m.digest, t);
        }
      });

      it('PUT by digest whose bytes hash elsewhere answers 400 DIGEST_INVALID', async () => {
        const m = image();
        const res = await c.pushManifest(repo, digestOf('other bytes'), m);
        assertOCIError(res, 400, 'DIGEST_INVALID');
      });

      it('a manifest with no layers is accepted', async () => {
        const m = imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [] });
        const res = await c.pushManifest(repo, 'no-layers', m);
        assert.equal(res.statusCode, 201, res.body);
        const get = await c.request('GET', location(res));
        assert.deepEqual(get.rawPayload, m.bytes);
      });

      it('an artifact manifest (empty config + artifactType) is accepted', async () => {
        const m = imageManifest({
          artifactType: 'application/vnd.example.thing',
          config: EMPTY,
          layers: [descriptor(layer, 'application/vnd.example.thing.layer')],
        });
        assert.equal((await c.pushManifest(repo, m.digest, m)).statusCode, 201);
      });

      it('an OCI index of pushed manifests is accepted and returned byte for byte', async () => {
        const amd = image();
        const arm = imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [], annotations: { a: 'arm' } });
        for (const m of [amd, arm]) assert.equal((await c.pushManifest(repo, m.digest, m)).statusCode, 201);
        const index = indexManifest([
          manifestDescriptor(amd, { platform: { architecture: 'amd64', os: 'linux' } }),
          manifestDescriptor(arm, { platform: { architecture: 'arm64', os: 'linux' } }),
        ]);
        const res = await c.pushManifest(repo, 'multi-arch', index);
        assert.equal(res.statusCode, 201, res.body);
        const get = await c.request('GET', `/v2/${repo}/manifests/multi-arch`, { headers: { accept: OCI_INDEX } });
        assert.equal(get.headers['content-type'], OCI_INDEX);
        assert.equal(get.headers['docker-content-digest'], index.digest);
        assert.deepEqual(get.rawPayload, index.bytes);
      });

      it('a Docker schema 2 manifest and manifest list are accepted with their media types', async () => {
        const dockerConfig = blob(uniqueBytes('docker-config'));
        const dockerLayer = blob(uniqueBytes('docker-layer'));
        for (const b of [dockerConfig, dockerLayer]) assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
        const m = imageManifest({
          mediaType: DOCKER_MANIFEST,
          config: descriptor(dockerConfig, DOCKER_CONFIG),
          layers: [descriptor(dockerLayer, DOCKER_LAYER)],
        });
        assert.equal((await c.pushManifest(repo, 'docker', m)).statusCode, 201);
        const list = indexManifest(
          [manifestDescriptor(m, { platform: { architecture: 'amd64', os: 'linux' } })],
          DOCKER_LIST,
        );
        assert.equal((await c.pushManifest(repo, 'docker-list', list)).statusCode, 201);
        const got = await c.request('GET', `/v2/${repo}/manifests/docker-list`);
        assert.equal(got.headers['content-type'], DOCKER_LIST);
        assert.deepEqual(got.rawPayload, list.bytes);
        const single = await c.request('GET', `/v2/${repo}/manifests/docker`);
        assert.equal(single.headers['content-type'], DOCKER_MANIFEST);
      });

      it('a manifest referencing a blob not in the repository answers 400 MANIFEST_BLOB_UNKNOWN', async () => {
        const ghost = blob(uniqueBytes('ghost-layer'));
        const m = imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [descriptor(ghost, OCI_LAYER)] });
        assertOCIError(await c.pushManifest(repo, 'ghost', m), 400, 'MANIFEST_BLOB_UNKNOWN');
        assertOCIError(await c.request('GET', `/v2/${repo}/manifests/${m.digest}`), 404, 'MANIFEST_UNKNOWN');
        assert.ok(!(await c.tags(repo)).includes('ghost'));
        // A missing config is as fatal as a missing layer.
        const noConfig = imageManifest({ config: descriptor(ghost, OCI_CONFIG) });
        assertOCIError(await c.pushManifest(repo, noConfig.digest, noConfig), 400, 'MANIFEST_BLOB_UNKNOWN');
      });

      it('a refused manifest push to a new repository does not create the repository', async () => {
        const fresh = freshRepo('push/never-created');
        const m = imageManifest({ config: descriptor(blob(uniqueBytes('absent-config')), OCI_CONFIG) });
        assertOCIError(await c.pushManifest(fresh, 'v1', m), 400, 'MANIFEST_BLOB_UNKNOWN');
        assertOCIError(await c.request('GET', `/v2/${fresh}/tags/list`), 404, 'NAME_UNKNOWN');
        const catalog = (await c.request('GET', '/v2/_catalog')).json() as { repositories: string[] };
        assert.ok(!catalog.repositories.includes(fresh));
      });

      it('a blob in another repository does not satisfy a manifest here', async () => {
        const elsewhere = blob(uniqueBytes('elsewhere'));
        assert.equal((await c.pushBlob(freshRepo('push/elsewhere'), elsewhere)).statusCode, 201);
        const m = imageManifest({ config: descriptor(elsewhere, OCI_CONFIG) });
        assertOCIError(await c.pushManifest(repo, m.digest, m), 400, 'MANIFEST_BLOB_UNKNOWN');
      });

      it('an index referencing a missing child manifest answers 400 MANIFEST_BLOB_UNKNOWN', async () => {
        const orphan = imageManifest({ config: descriptor(config, OCI_CONFIG), annotations: { never: 'pushed' } });
        const index = indexManifest([manifestDescriptor(orphan)]);
        assertOCIError(await c.pushManifest(repo, 'orphans', index), 400, 'MANIFEST_BLOB_UNKNOWN');
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/${index.digest}`)).statusCode, 404);
      });

      it('a subject that does not exist is accepted and the response carries OCI-Subject', async () => {
        const subject = imageManifest({ config: descriptor(config, OCI_CONFIG), annotations: { not: 'here' } });
        const referrer = imageManifest({
          artifactType: 'application/vnd.example.sbom',
          config: EMPTY,
          layers: [EMPTY],
          subject: manifestDescriptor(subject),
        });
        const res = await c.pushManifest(repo, referrer.digest, referrer);
        assert.equal(res.statusCode, 201, res.body);
        assert.equal(res.headers['oci-subject'], subject.digest);
        const refs = await c.request('GET', `/v2/${repo}/referrers/${subject.digest}`);
        assert.deepEqual(
          (refs.json() as { manifests: Array<{ digest: string }> }).manifests.map((d) => d.digest),
          [referrer.digest],
        );
      });

      it('a manifest without a subject carries no OCI-Subject header', async () => {
        const res = await c.pushManifest(repo, 'plain', image());
        assert.equal(res.statusCode, 201);
        assert.equal(res.headers['oci-subject'], undefined);
      });

      it('the exact bytes come back: unusual whitespace and key order survive, digest header matches', async () => {
        const text =
          '{\n  "layers" :[ ],\n\t"config":{"size":' +
          config.size +
          ',  "digest":"' +
          config.digest +
          '","mediaType":"application/vnd.oci.image.config.v1+json"},\r\n' +
          '  "mediaType":"application/vnd.oci.image.manifest.v1+json", "schemaVersion" : 2 ,"annotations":{"z":"\\u00e9","a":"1"}\n}\n\n';
        const m = { ...blob(text), mediaType: OCI_MANIFEST };
        const res = await c.pushManifest(repo, 'weird', m);
        assert.equal(res.statusCode, 201, res.body);
        assert.equal(res.headers['docker-content-digest'], m.digest);
        for (const ref of ['weird', m.digest]) {
          const get = await c.request('GET', `/v2/${repo}/manifests/${ref}`);
          assert.equal(get.statusCode, 200);
          assert.deepEqual(get.rawPayload, m.bytes);
          assert.equal(get.headers['docker-content-digest'], m.digest);
          assert.equal(digestOf(get.rawPayload), m.digest);
          assert.equal(get.headers['content-length'], String(m.size));
        }
      });

      it('a manifest without a mediaType field is accepted when Content-Type names an OCI type', async () => {
        const m = manifestOf({ schemaVersion: 2, config: descriptor(config, OCI_CONFIG), layers: [] }, OCI_MANIFEST);
        const res = await c.pushManifest(repo, m.digest, m);
        assert.equal(res.statusCode, 201, res.body);
        const get = await c.request('GET', `/v2/${repo}/manifests/${m.digest}`);
        assert.equal(get.headers['content-type'], OCI_MANIFEST);
      });

      it('re-pushing the same manifest is idempotent', async () => {
        const m = image();
        assert.equal((await c.pushManifest(repo, 'again', m)).statusCode, 201);
        assert.equal((await c.pushManifest(repo, 'again', m)).statusCode, 201);
        assert.equal((await c.pushManifest(repo, m.digest, m)).statusCode, 201);
      });

      it('moving a mutable tag to another manifest points it at the new digest', async () => {
        const a = image();
        const b = imageManifest({ config: descriptor(config, OCI_CONFIG), annotations: { v: '2' } });
        assert.equal((await c.pushManifest(repo, 'moving', a)).statusCode, 201);
        assert.equal((await c.pushManifest(repo, 'moving', b)).statusCode, 201);
        const head = await c.request('HEAD', `/v2/${repo}/manifests/moving`);
        assert.equal(head.headers['docker-content-digest'], b.digest);
        // The old manifest is still there by digest.
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${a.digest}`)).statusCode, 200);
      });
    });

    describe('sha512', () => {
      it('sha512 blobs and manifests work end to end', async () => {
        const repo = freshRepo('push/sha512');
        const cfg = blob(uniqueBytes('sha512-config'), 'sha512');
        const layer = blob(uniqueBytes('sha512-layer', 3000), 'sha512');
        assert.equal((await c.pushBlob(repo, cfg)).statusCode, 201);
        // Chunked too, so the running hash is not the only path.
        const url = await startUpload(repo);
        const one = await c.request('PATCH', url, {
          headers: { ...OCTET, 'content-range': '0-1499', 'content-length': '1500' },
          payload: layer.bytes.subarray(0, 1500),
        });
        assert.equal(one.statusCode, 202);
        const put = await c.request('PUT', withDigest(location(one), layer.digest), {
          headers: OCTET,
          payload: layer.bytes.subarray(1500),
        });
        assert.equal(put.statusCode, 201, put.body);
        assert.equal(put.headers['docker-content-digest'], layer.digest);
        const head = await c.request('HEAD', `/v2/${repo}/blobs/${layer.digest}`);
        assert.equal(head.statusCode, 200);
        assert.equal(head.headers['docker-content-digest'], layer.digest);
        assert.deepEqual((await c.request('GET', `/v2/${repo}/blobs/${layer.digest}`)).rawPayload, layer.bytes);

        const doc = {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: descriptor(cfg, OCI_CONFIG),
          layers: [descriptor(layer, OCI_LAYER)],
        };
        const m = manifestOf(doc, OCI_MANIFEST, 'sha512');
        const res = await c.pushManifest(repo, m.digest, m);
        assert.equal(res.statusCode, 201, res.body);
        assert.equal(res.headers['docker-content-digest'], m.digest);
        const get = await c.request('GET', `/v2/${repo}/manifests/${m.digest}`);
        assert.equal(get.statusCode, 200);
        assert.deepEqual(get.rawPayload, m.bytes);
        assert.equal(get.headers['docker-content-digest'], m.digest);
        // A sha512 subject works with the referrers API.
        const ref = imageManifest({
          artifactType: 'application/vnd.example.sig',
          config: EMPTY,
          layers: [EMPTY],
          subject: manifestDescriptor(m),
        });
        assert.equal((await c.pushBlob(repo, blob('{}'))).statusCode, 201);
        const pushed = await c.pushManifest(repo, ref.digest, ref);
        assert.equal(pushed.headers['oci-subject'], m.digest);
        const refs = await c.request('GET', `/v2/${repo}/referrers/${m.digest}`);
        assert.equal(refs.statusCode, 200);
        assert.equal((refs.json() as { manifests: unknown[] }).manifests.length, 1);
      });
    });
  });
}
