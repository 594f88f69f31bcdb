// Distribution-spec v1.1.1 conformance, "Content management" workflow (conformance/04_management_test.go),
// plus Fixity's tag immutability rules and the event trail every change leaves, for every engine.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';
import {
  assertOCIError,
  blob,
  client,
  descriptor,
  digestOf,
  EMPTY,
  type EventView,
  freshRepo,
  imageManifest,
  indexManifest,
  manifestDescriptor,
  OCI_CONFIG,
  uniqueBytes,
} from './support/registry-client.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const engine of await testDatabases()) {
  describe(`registry management (${engine.name.replace('Database', '')})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;

    before(async () => {
      h = await createHarness(await engine(), { immutable: [{ repositories: 'prod/**', tags: '*' }] });
      c = client(h);
    });
    after(() => h.close());

    /** Two distinct manifests over the same config in `repo`, neither pushed yet. */
    const twoManifests = async (repo: string) => {
      const config = blob(uniqueBytes(`config-${repo}`));
      assert.equal((await c.pushBlob(repo, config)).statusCode, 201);
      const a = imageManifest({ config: descriptor(config, OCI_CONFIG), annotations: { which: 'a' } });
      const b = imageManifest({ config: descriptor(config, OCI_CONFIG), annotations: { which: 'b' } });
      return { config, a, b };
    };
    const digestOfTag = async (repo: string, tag: string) =>
      (await c.request('HEAD', `/v2/${repo}/manifests/${tag}`)).headers['docker-content-digest'];

    describe('deletes', () => {
      it('DELETE a tag answers 202; the tag is gone, the manifest stays by digest', async () => {
        const repo = freshRepo('mgmt/tags');
        const { manifest } = await c.pushImage(repo, 'keep');
        assert.equal((await c.pushManifest(repo, 'drop', manifest)).statusCode, 201);
        const res = await c.request('DELETE', `/v2/${repo}/manifests/drop`);
        assert.equal(res.statusCode, 202);
        assertOCIError(await c.request('GET', `/v2/${repo}/manifests/drop`), 404, 'MANIFEST_UNKNOWN');
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/${manifest.digest}`)).statusCode, 200);
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/keep`)).statusCode, 200);
        assert.deepEqual(await c.tags(repo), ['keep']);
        // Deleting it again is an OCI-conforming error.
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/drop`), 404, 'MANIFEST_UNKNOWN');
      });

      it('DELETE a manifest by digest answers 202, then GET is 404 and its tags are gone from the list', async () => {
        const repo = freshRepo('mgmt/manifests');
        const { manifest } = await c.pushImage(repo, 'test0');
        for (const t of ['test1', 'test2']) assert.equal((await c.pushManifest(repo, t, manifest)).statusCode, 201);
        const other = await c.pushImage(repo, 'survivor', { label: 'other' });
        const res = await c.request('DELETE', `/v2/${repo}/manifests/${manifest.digest}`);
        assert.equal(res.statusCode, 202);
        assertOCIError(await c.request('GET', `/v2/${repo}/manifests/${manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${manifest.digest}`)).statusCode, 404);
        for (const t of ['test0', 'test1', 'test2']) {
          assert.equal((await c.request('GET', `/v2/${repo}/manifests/${t}`)).statusCode, 404, t);
        }
        assert.deepEqual(await c.tags(repo), ['survivor']);
        assert.equal(await digestOfTag(repo, 'survivor'), other.manifest.digest);
      });

      it('DELETE a manifest that does not exist answers 404 MANIFEST_UNKNOWN', async () => {
        const repo = freshRepo('mgmt/none');
        await c.pushImage(repo, 'v1');
        const res = await c.request('DELETE', `/v2/${repo}/manifests/${digestOf('absent manifest')}`);
        assertOCIError(res, 404, 'MANIFEST_UNKNOWN');
      });

      it('DELETE a blob answers 202, then GET and HEAD are 404; other repositories keep it', async () => {
        const repo = freshRepo('mgmt/blobs');
        const mirror = freshRepo('mgmt/blobs-mirror');
        const b = blob(uniqueBytes('doomed'));
        assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
        assert.equal((await c.pushBlob(mirror, b)).statusCode, 201);
        const res = await c.request('DELETE', `/v2/${repo}/blobs/${b.digest}`);
        assert.equal(res.statusCode, 202);
        assertOCIError(await c.request('GET', `/v2/${repo}/blobs/${b.digest}`), 404, 'BLOB_UNKNOWN');
        assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${b.digest}`)).statusCode, 404);
        assert.equal((await c.request('GET', `/v2/${mirror}/blobs/${b.digest}`)).statusCode, 200);
        assertOCIError(await c.request('DELETE', `/v2/${repo}/blobs/${b.digest}`), 404, 'BLOB_UNKNOWN');
      });

      it('deleting a child of an index leaves the index readable by digest', async () => {
        const repo = freshRepo('mgmt/index');
        const { manifest } = await c.pushImage(repo, null);
        const index = indexManifest([manifestDescriptor(manifest)]);
        assert.equal((await c.pushManifest(repo, 'list', index)).statusCode, 201);
        const del = await c.request('DELETE', `/v2/${repo}/manifests/${manifest.digest}`);
        // Either refusing (the index still needs it) or deleting is allowed; the index must stay intact.
        assert.ok([202, 400, 405, 409].includes(del.statusCode), `${del.statusCode}`);
        const got = await c.request('GET', `/v2/${repo}/manifests/list`);
        assert.equal(got.statusCode, 200);
        assert.deepEqual(got.rawPayload, index.bytes);
      });

      it('a token without the delete scope cannot delete (403 DENIED)', async () => {
        const repo = freshRepo('mgmt/scoped');
        const { manifest, config } = await c.pushImage(repo, 'v1');
        const pusher = h.auth(await h.token(['push']));
        for (const url of [
          `/v2/${repo}/manifests/v1`,
          `/v2/${repo}/manifests/${manifest.digest}`,
          `/v2/${repo}/blobs/${config.digest}`,
        ]) {
          assertOCIError(await c.request('DELETE', url, { auth: pusher }), 403, 'DENIED');
        }
        assert.equal(await digestOfTag(repo, 'v1'), manifest.digest);
        assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${config.digest}`)).statusCode, 200);
      });
    });

    describe('immutable tags (prod/**)', () => {
      it('a tag in prod/app cannot be moved to another digest: 403 DENIED, the tag stays', async () => {
        const repo = freshRepo('prod/app');
        const { a, b } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'v1', a)).statusCode, 201);
        assertOCIError(await c.pushManifest(repo, 'v1', b), 403, 'DENIED');
        assert.equal(await digestOfTag(repo, 'v1'), a.digest);
        // The refused push stored nothing.
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${b.digest}`)).statusCode, 404);
        // Nor through ?tag= on a digest push.
        const viaParam = await c.request('PUT', `/v2/${repo}/manifests/${b.digest}?tag=v1`, {
          headers: { 'content-type': b.mediaType },
          payload: b.bytes,
        });
        assertOCIError(viaParam, 403, 'DENIED');
        assert.equal(await digestOfTag(repo, 'v1'), a.digest);
      });

      it('re-pushing the same digest to an immutable tag is fine', async () => {
        const repo = freshRepo('prod/app');
        const { a } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'v1', a)).statusCode, 201);
        const again = await c.pushManifest(repo, 'v1', a);
        assert.equal(again.statusCode, 201);
        assert.equal(again.headers['docker-content-digest'], a.digest);
        // A new tag on the same digest is a new tag, not a move.
        assert.equal((await c.pushManifest(repo, 'v1-alias', a)).statusCode, 201);
      });

      it('an immutable tag cannot be deleted, nor its manifest deleted by digest', async () => {
        const repo = freshRepo('prod/app');
        const { a } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'v1', a)).statusCode, 201);
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/v1`), 403, 'DENIED');
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/${a.digest}`), 403, 'DENIED');
        assert.equal(await digestOfTag(repo, 'v1'), a.digest);
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/${a.digest}`)).statusCode, 200);
        assert.deepEqual(await c.tags(repo), ['v1']);
      });

      it('the rule covers nested repositories under prod/', async () => {
        const repo = freshRepo('prod/team/svc');
        const { a, b } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'stable', a)).statusCode, 201);
        assertOCIError(await c.pushManifest(repo, 'stable', b), 403, 'DENIED');
      });

      it("other repositories' tags move and delete freely", async () => {
        for (const repo of [freshRepo('staging/app'), freshRepo('production/app'), freshRepo('prodx')]) {
          const { a, b } = await twoManifests(repo);
          assert.equal((await c.pushManifest(repo, 'v1', a)).statusCode, 201);
          assert.equal((await c.pushManifest(repo, 'v1', b)).statusCode, 201, repo);
          assert.equal(await digestOfTag(repo, 'v1'), b.digest);
          assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/v1`)).statusCode, 202);
        }
      });

      it('sha256-<hex> referrers tags and cosign .sig tags are exempt', async () => {
        const repo = freshRepo('prod/app');
        const { a, b } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'v1', a)).statusCode, 201);
        assert.equal((await c.pushBlob(repo, blob('{}'))).statusCode, 201);
        const fallbackTag = a.digest.replace(':', '-');
        const sig = (n: string) =>
          imageManifest({
            artifactType: 'application/vnd.example.sig',
            config: EMPTY,
            layers: [EMPTY],
            subject: manifestDescriptor(a),
            annotations: { n },
          });
        const one = sig('1');
        const two = sig('2');
        for (const m of [one, two]) assert.equal((await c.pushManifest(repo, m.digest, m)).statusCode, 201);
        const first = indexManifest([manifestDescriptor(one)]);
        const second = indexManifest([manifestDescriptor(one), manifestDescriptor(two)]);
        assert.equal((await c.pushManifest(repo, fallbackTag, first)).statusCode, 201);
        assert.equal((await c.pushManifest(repo, fallbackTag, second)).statusCode, 201);
        assert.equal(await digestOfTag(repo, fallbackTag), second.digest);
        // cosign's legacy signature tag keeps moving as signatures are added.
        const sigTag = `${fallbackTag}.sig`;
        assert.equal((await c.pushManifest(repo, sigTag, one)).statusCode, 201);
        assert.equal((await c.pushManifest(repo, sigTag, two)).statusCode, 201);
        assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/${fallbackTag}`)).statusCode, 202);
        // A tag that merely looks similar is not exempt.
        assert.equal((await c.pushManifest(repo, 'sha256-latest', a)).statusCode, 201);
        assertOCIError(await c.pushManifest(repo, 'sha256-latest', b), 403, 'DENIED');
      });

      it('an untagged manifest in prod/ can still be deleted', async () => {
        const repo = freshRepo('prod/app');
        const { a } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, a.digest, a)).statusCode, 201);
        assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/${a.digest}`)).statusCode, 202);
      });
    });

    describe('events', () => {
      it('every manifest push, tag create/move/delete and delete appears with actor, time and digests', async () => {
        const alice = await h.access.createToken({ name: 'alice', scopes: ['push', 'delete'], repos: ['**'] }, 'test');
        const auth = h.auth(alice.secret);
        const start = (await c.events()).at(-1)?.seq ?? 0;
        const repo = freshRepo('mgmt/events');
        const { config, a, b } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'v1', a, auth)).statusCode, 201);
        assert.equal((await c.pushManifest(repo, 'v1', b, auth)).statusCode, 201);
        assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 202);
        assert.equal((await c.pushManifest(repo, 'v2', a, auth)).statusCode, 201);
        assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/${a.digest}`, { auth })).statusCode, 202);
        assert.equal((await c.request('DELETE', `/v2/${repo}/blobs/${config.digest}`, { auth })).statusCode, 202);

        const events = (await c.events(start)).filter((e) => e.repo === repo);
        const summary = events.map((e) => [e.kind, e.tag, e.digest, e.previous]);
        assert.deepEqual(summary, [
          ['manifest.push', null, a.digest, null],
          ['tag.create', 'v1', a.digest, null],
          ['manifest.push', null, b.digest, null],
          ['tag.move', 'v1', b.digest, a.digest],
          ['tag.delete', 'v1', null, b.digest],
          ['tag.create', 'v2', a.digest, null],
          ['tag.delete', 'v2', null, a.digest],
          ['manifest.delete', null, a.digest, null],
          ['blob.delete', null, config.digest, null],
        ]);
        for (const e of events) {
          assert.match(e.actor, new RegExp(`^alice#${alice.token.id.slice(0, 8)}`), e.kind);
          assert.match(e.at, ISO);
          assert.ok(Math.abs(Date.parse(e.at) - Date.now()) < 60_000);
        }
        const seqs = events.map((e) => e.seq);
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
        );
      });

      it('refused changes leave no event', async () => {
        const repo = freshRepo('prod/events');
        const { a, b } = await twoManifests(repo);
        assert.equal((await c.pushManifest(repo, 'v1', a)).statusCode, 201);
        const start = (await c.events()).at(-1)?.seq ?? 0;
        assertOCIError(await c.pushManifest(repo, 'v1', b), 403, 'DENIED');
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/v1`), 403, 'DENIED');
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/${a.digest}`), 403, 'DENIED');
        const after: EventView[] = (await c.events(start)).filter((e) => e.repo === repo);
        assert.deepEqual(after, []);
      });

      it('the events API is admin only', async () => {
        const anon = await h.app.inject({ method: 'GET', url: '/api/v1/events' });
        assert.equal(anon.statusCode, 401);
        const puller = await h.token(['pull']);
        const denied = await h.app.inject({
          method: 'GET',
          url: '/api/v1/events',
          headers: { authorization: `Bearer ${puller}` },
        });
        assert.equal(denied.statusCode, 403);
      });
    });
  });
}
