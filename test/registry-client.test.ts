// The OCI client (src/oci) against Fixity's registry over a real socket, and against the reference
// registry (distribution 2.8), which has no referrers API: the client must fall back to the tag schema.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Digest, digestOf } from '../src/core/index.ts';
import { createRegistryClient, EMPTY_DESCRIPTOR, MEDIA_TYPES, parseReference, referrersTag } from '../src/oci/index.ts';
import { sqliteDatabase } from './support/databases.ts';
import { dockerRegistryAvailable, startDockerRegistry } from './support/docker-registry.ts';
import { createHarness, type Harness } from './support/harness.ts';

const blob = (bytes: Uint8Array) => ({
  digest: digestOf(bytes),
  size: bytes.byteLength,
  open: async function* () {
    yield bytes;
  },
});

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}

function imageManifest(config: Digest, configSize: number, layers: Array<{ digest: Digest; size: number }>) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.imageManifest,
      config: { mediaType: MEDIA_TYPES.imageConfig, digest: config, size: configSize },
      layers: layers.map((l) => ({ mediaType: MEDIA_TYPES.layerTar, ...l })),
    }),
  );
}

function artifactFor(subject: Digest, size: number, type: string) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.imageManifest,
      artifactType: type,
      config: EMPTY_DESCRIPTOR,
      layers: [EMPTY_DESCRIPTOR],
      subject: { mediaType: MEDIA_TYPES.imageManifest, digest: subject, size },
    }),
  );
}

describe('createRegistryClient() against Fixity', () => {
  let h: Harness;
  let host: string;
  before(async () => {
    h = await createHarness(await sqliteDatabase());
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address();
    host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  after(() => h.close());

  const client = () =>
    createRegistryClient({ credentials: () => ({ username: 'ci', password: h.adminToken }), chunkSize: 64 * 1024 });

  it('pushBlob() uploads, then reports exists, and mounts across repositories', async () => {
    const c = client();
    const bytes = randomBytes(1000);
    assert.equal(await c.pushBlob(parseReference(`${host}/client/a`), blob(bytes)), 'uploaded');
    assert.equal(await c.pushBlob(parseReference(`${host}/client/a`), blob(bytes)), 'exists');
    assert.equal(
      await c.pushBlob(parseReference(`${host}/client/b`), blob(bytes), { mountFrom: 'client/a' }),
      'mounted',
    );
    assert.equal(await c.blobSize(parseReference(`${host}/client/b`), digestOf(bytes)), 1000);
  });

  it('pushBlob() sends large blobs in chunks that the registry reassembles', async () => {
    const bytes = randomBytes(300 * 1024 + 17);
    const ref = parseReference(`${host}/client/chunked`);
    assert.equal(await client().pushBlob(ref, blob(bytes)), 'uploaded');
    assert.deepEqual(await collect(client().getBlob(ref, digestOf(bytes), bytes.byteLength)), bytes);
  });

  it('pushManifest() and getManifest() round-trip exact bytes by tag and digest through the token flow', async () => {
    const c = client();
    const ref = parseReference(`${host}/client/img:v1`);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(100);
    await c.pushBlob(ref, blob(config));
    await c.pushBlob(ref, blob(layer));
    const manifest = imageManifest(digestOf(config), config.byteLength, [{ digest: digestOf(layer), size: 100 }]);
    const pushed = await c.pushManifest(ref, 'v1', manifest, MEDIA_TYPES.imageManifest);
    assert.equal(pushed.digest, digestOf(manifest));
    const byTag = await c.getManifest(ref, 'v1');
    const byDigest = await c.getManifest(ref, pushed.digest);
    assert.deepEqual(Buffer.from(byTag!.bytes), manifest);
    assert.equal(byDigest!.mediaType, MEDIA_TYPES.imageManifest);
    assert.deepEqual(await c.listTags(ref), ['v1']);
  });

  it('pushReferrer() is indexed by the referrers API (OCI-Subject)', async () => {
    const c = client();
    const ref = parseReference(`${host}/client/img`);
    const subject = (await c.getManifest(ref, 'v1'))!;
    const artifact = artifactFor(subject.digest, subject.bytes.byteLength, 'application/vnd.example.note');
    const pushed = await c.pushReferrer(ref, artifact, MEDIA_TYPES.imageManifest, subject.digest, {
      artifactType: 'application/vnd.example.note',
    });
    assert.equal(pushed.subjectIndexed, true);
    const referrers = await c.listReferrers(ref, subject.digest, 'application/vnd.example.note');
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [digestOf(artifact)],
    );
    assert.equal(
      await c.getManifest(ref, referrersTag(subject.digest)),
      null,
      'no fallback tag when the API indexed it',
    );
  });

  it('getManifest() returns null for a missing tag and fails clearly without credentials', async () => {
    assert.equal(await client().getManifest(parseReference(`${host}/client/img`), 'nope'), null);
    const anonymous = createRegistryClient({ attempts: 1 });
    await assert.rejects(
      anonymous.getManifest(parseReference(`${host}/client/img`), 'v1'),
      /Cannot log in to 127\.0\.0\.1:\d+: the token service answered 401/,
    );
  });

  it('request retries transient network failures', async () => {
    let failures = 1;
    const flaky: typeof fetch = async (input, init) => {
      if (failures-- > 0) throw new TypeError('fetch failed: ECONNRESET');
      return fetch(input, init);
    };
    const c = createRegistryClient({ credentials: () => ({ username: 'x', password: h.adminToken }), fetch: flaky });
    assert.deepEqual(await c.listTags(parseReference(`${host}/client/img`)), ['v1']);
  });
});

describe('createRegistryClient() against the reference registry (distribution 2.8)', {
  skip: !dockerRegistryAvailable() && 'docker-registry is not installed',
}, () => {
  let registry: Awaited<ReturnType<typeof startDockerRegistry>>;
  before(async () => {
    registry = await startDockerRegistry();
  });
  after(() => registry.stop());

  it('pushes an image, chunked blobs included, and falls back to the referrers tag schema', async () => {
    const c = createRegistryClient({ chunkSize: 64 * 1024 });
    const ref = parseReference(`${registry.host}/peer/img:v1`);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(200 * 1024 + 3);
    await c.pushBlob(ref, blob(config));
    assert.equal(await c.pushBlob(ref, blob(layer)), 'uploaded');
    const manifest = imageManifest(digestOf(config), config.byteLength, [
      { digest: digestOf(layer), size: layer.byteLength },
    ]);
    const { digest } = await c.pushManifest(ref, 'v1', manifest, MEDIA_TYPES.imageManifest);
    assert.deepEqual(await collect(c.getBlob(ref, digestOf(layer))), layer);

    await c.pushBlob(ref, blob(Buffer.from('{}')));
    const artifact = artifactFor(digest, manifest.byteLength, 'application/vnd.example.sbom');
    const pushed = await c.pushReferrer(ref, artifact, MEDIA_TYPES.imageManifest, digest, {
      artifactType: 'application/vnd.example.sbom',
    });
    assert.equal(pushed.subjectIndexed, false, 'distribution 2.8 has no referrers API');
    const referrers = await c.listReferrers(ref, digest);
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [digestOf(artifact)],
    );
    assert.ok((await c.listTags(ref)).includes(referrersTag(digest)));
  });
});
