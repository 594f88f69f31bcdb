// Distribution-spec v1.1.1 conformance, "Content discovery" workflow (conformance/03_discovery_test.go), for
// every engine: tag listing with n/last pagination, the referrers API and its filter, the referrers tag
// schema, and the catalog.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';
import {
  assertOCIError,
  blob,
  client,
  type Descriptor,
  descriptor,
  digestOf,
  EMPTY,
  freshRepo,
  imageManifest,
  indexManifest,
  type Manifest,
  manifestDescriptor,
  OCI_CONFIG,
  OCI_INDEX,
  type Response,
  uniqueBytes,
} from './support/registry-client.ts';

interface TagList {
  name: string;
  tags: string[];
}

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<Descriptor & { artifactType?: string; annotations?: Record<string, string> }>;
}

/** The `<url>` of a `Link: <url>; rel="next"` header, or null. */
function nextLink(res: Response): string | null {
  const link = res.headers.link;
  if (link === undefined) return null;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(String(link));
  assert.ok(m !== null, `malformed Link header: ${String(link)}`);
  return m[1]!;
}

for (const engine of await testDatabases()) {
  describe(`registry discovery (${engine.name.replace('Database', '')})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;

    before(async () => {
      h = await createHarness(await engine());
      c = client(h);
    });
    after(() => h.close());

    describe('tags list', () => {
      const repo = freshRepo('disc/tags');
      // Lexical (bytewise) order puts uppercase before lowercase and digits before both; `-`, `.`, `_` too.
      const tags = ['v1.10', 'v1.2', 'latest', 'Latest', '1.0', '_x', 'a-b', 'a.b', 'a_b', 'zz', 'v1.2-rc1'];
      const sorted = [...tags].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

      before(async () => {
        const image = await c.pushImage(repo, null);
        for (const t of tags) assert.equal((await c.pushManifest(repo, t, image.manifest)).statusCode, 201);
      });

      it('GET tags/list answers 200 {name, tags} in lexical order', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list`);
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.deepEqual(res.json(), { name: repo, tags: sorted });
        assert.equal(res.headers.link, undefined);
      });

      it('n limits the count and Link points at the next page; following Link walks every tag once', async () => {
        const seen: string[] = [];
        let url: string | null = `/v2/${repo}/tags/list?n=3`;
        let pages = 0;
        while (url !== null) {
          const res = await c.request('GET', url);
          assert.equal(res.statusCode, 200);
          const page = res.json() as TagList;
          assert.equal(page.name, repo);
          assert.ok(page.tags.length <= 3);
          seen.push(...page.tags);
          url = nextLink(res);
          if (url !== null) assert.ok(url.startsWith(`/v2/${repo}/tags/list?`), url);
          assert.ok(++pages < 10, 'pagination does not terminate');
        }
        assert.deepEqual(seen, sorted);
        assert.equal(pages, Math.ceil(sorted.length / 3));
      });

      it('n = numTags/2 returns exactly that many; last is exclusive', async () => {
        const half = Math.floor(sorted.length / 2);
        const first = (await c.request('GET', `/v2/${repo}/tags/list?n=${half}`)).json() as TagList;
        assert.equal(first.tags.length, half);
        assert.deepEqual(first.tags, sorted.slice(0, half));
        const last = first.tags.at(-1)!;
        const res = await c.request('GET', `/v2/${repo}/tags/list?n=${half}&last=${encodeURIComponent(last)}`);
        const second = res.json() as TagList;
        assert.ok(second.tags.length <= half);
        assert.ok(!second.tags.includes(last));
        assert.deepEqual(second.tags, sorted.slice(half, half * 2));
      });

      it('last without n returns everything after it', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list?last=latest`);
        assert.deepEqual(
          (res.json() as TagList).tags,
          sorted.filter((t) => t > 'latest'),
        );
      });

      it('a last that is not a tag still positions lexically', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list?last=m`);
        assert.deepEqual(
          (res.json() as TagList).tags,
          sorted.filter((t) => t > 'm'),
        );
      });

      it('n=0 returns an empty list and no Link header', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list?n=0`);
        assert.equal(res.statusCode, 200);
        assert.deepEqual((res.json() as TagList).tags, []);
        assert.equal(res.headers.link, undefined);
      });

      it('n at least the tag count returns all and no Link header', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list?n=${sorted.length}`);
        assert.deepEqual((res.json() as TagList).tags, sorted);
        assert.equal(res.headers.link, undefined);
      });

      it('a malformed n is refused with an OCI error body', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list?n=-1`);
        assertOCIError(res, 400, 'PAGINATION_NUMBER_INVALID');
      });

      it('an unknown repository answers 404 NAME_UNKNOWN', async () => {
        assertOCIError(await c.request('GET', `/v2/${freshRepo('disc/none')}/tags/list`), 404, 'NAME_UNKNOWN');
      });

      it('a repository whose only manifest was pushed by digest lists no tags', async () => {
        const r = freshRepo('disc/untagged');
        await c.pushImage(r, null);
        const res = await c.request('GET', `/v2/${r}/tags/list`);
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json(), { name: r, tags: [] });
      });
    });

    describe('referrers', () => {
      const repo = freshRepo('disc/referrers');
      const TYPE_A = 'application/vnd.example.type-a';
      const TYPE_B = 'application/vnd.example.type-b';
      const KEY = 'org.opencontainers.conformance.test';
      let subject: Manifest;
      const referrers: Manifest[] = [];
      let missingSubjectReferrer: Manifest;
      let missingSubject: Manifest;

      const push = async (m: Manifest) => {
        const res = await c.pushManifest(repo, m.digest, m);
        assert.equal(res.statusCode, 201, res.body);
        return res;
      };

      before(async () => {
        const img = await c.pushImage(repo, 'tagged');
        subject = img.manifest;
        const blobA = blob(uniqueBytes('ref-blob-a'));
        const blobB = blob(uniqueBytes('ref-blob-b'));
        for (const b of [blobA, blobB, blob('{}')]) assert.equal((await c.pushBlob(repo, b)).statusCode, 201);
        // Like the conformance suite: artifact type carried by config.mediaType, by artifactType with an
        // empty config, and by an index; A and B variants of each.
        const configTyped = (b: typeof blobA, type: string, value: string) =>
          imageManifest({
            config: descriptor(b, type),
            layers: [EMPTY],
            subject: manifestDescriptor(subject),
            annotations: { [KEY]: value },
          });
        const fieldTyped = (b: typeof blobA, type: string, value: string) =>
          imageManifest({
            artifactType: type,
            config: EMPTY,
            layers: [descriptor(b, 'application/octet-stream')],
            subject: manifestDescriptor(subject),
            annotations: { [KEY]: value },
          });
        referrers.push(
          configTyped(blobA, TYPE_A, 'config A'),
          fieldTyped(blobA, TYPE_A, 'field A'),
          configTyped(blobB, TYPE_B, 'config B'),
          fieldTyped(blobB, TYPE_B, 'field B'),
        );
        for (const m of referrers) {
          const res = await push(m);
          assert.equal(res.headers['oci-subject'], subject.digest);
        }
        const index = indexManifest([manifestDescriptor(referrers[0]!)], OCI_INDEX, {
          artifactType: 'application/vnd.example.index',
          subject: manifestDescriptor(subject),
          annotations: { [KEY]: 'index' },
        });
        referrers.push(index);
        assert.equal((await push(index)).headers['oci-subject'], subject.digest);

        missingSubject = imageManifest({ config: descriptor(blobA, OCI_CONFIG), annotations: { never: 'pushed' } });
        missingSubjectReferrer = imageManifest({
          artifactType: TYPE_A,
          config: EMPTY,
          layers: [EMPTY],
          subject: manifestDescriptor(missingSubject),
          annotations: { [KEY]: 'dangling' },
        });
        assert.equal((await push(missingSubjectReferrer)).headers['oci-subject'], missingSubject.digest);
      });

      const list = async (digest: string, query = '') => {
        const res = await c.request('GET', `/v2/${repo}/referrers/${digest}${query}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers['content-type'], OCI_INDEX);
        const body = res.json() as Index;
        assert.equal(body.schemaVersion, 2);
        assert.equal(body.mediaType, OCI_INDEX);
        assert.ok(Array.isArray(body.manifests));
        return { res, body };
      };

      it('a digest nothing refers to answers an empty 200 index', async () => {
        const { body } = await list(digestOf('nobody refers to this'));
        assert.deepEqual(body.manifests, []);
      });

      it('an unknown repository also answers an empty 200 index (never 404)', async () => {
        const res = await c.request('GET', `/v2/${freshRepo('disc/nothing')}/referrers/${subject.digest}`);
        assert.equal(res.statusCode, 200);
        assert.deepEqual((res.json() as Index).manifests, []);
      });

      it('lists every referrer with mediaType, size, artifactType and annotations', async () => {
        const { body } = await list(subject.digest);
        assert.equal(body.manifests.length, referrers.length);
        const byDigest = new Map(body.manifests.map((d) => [d.digest, d]));
        assert.equal(byDigest.size, referrers.length);
        const expectedType = [TYPE_A, TYPE_A, TYPE_B, TYPE_B, 'application/vnd.example.index'];
        referrers.forEach((m, i) => {
          const d = byDigest.get(m.digest);
          assert.ok(d !== undefined, `missing ${m.digest}`);
          assert.equal(d.mediaType, m.mediaType);
          assert.equal(d.size, m.size);
          assert.equal(d.artifactType, expectedType[i]);
          assert.equal(Object.keys(d.annotations ?? {}).length, 1);
        });
        assert.deepEqual(
          body.manifests.map((d) => d.annotations?.[KEY]).sort(),
          ['config A', 'config B', 'field A', 'field B', 'index'].sort(),
        );
      });

      it('?artifactType filters and reports OCI-Filters-Applied: artifactType', async () => {
        const { res, body } = await list(subject.digest, `?artifactType=${encodeURIComponent(TYPE_A)}`);
        assert.equal(res.headers['oci-filters-applied'], 'artifactType');
        assert.equal(body.manifests.length, 2);
        for (const d of body.manifests) assert.equal(d.artifactType, TYPE_A);
        assert.deepEqual(body.manifests.map((d) => d.annotations?.[KEY]).sort(), ['config A', 'field A']);
      });

      it('without a filter there is no OCI-Filters-Applied header', async () => {
        const { res } = await list(subject.digest);
        assert.equal(res.headers['oci-filters-applied'], undefined);
      });

      it('a filter nothing matches answers an empty index', async () => {
        const { body } = await list(subject.digest, '?artifactType=application%2Fvnd.example.none');
        assert.deepEqual(body.manifests, []);
      });

      it('referrers of a subject that was never pushed are listed', async () => {
        const { body } = await list(missingSubject.digest);
        assert.deepEqual(
          body.manifests.map((d) => d.digest),
          [missingSubjectReferrer.digest],
        );
      });

      it('a malformed digest answers 400', async () => {
        for (const bad of ['sha256:nothex', 'sha256:ABC', 'notadigest', `sha256:${'a'.repeat(63)}`]) {
          const res = await c.request('GET', `/v2/${repo}/referrers/${bad}`);
          assertOCIError(res, 400, ['DIGEST_INVALID', 'MANIFEST_INVALID', 'UNSUPPORTED']);
        }
      });

      it('a deleted referrer disappears from the list', async () => {
        const extra = imageManifest({
          artifactType: TYPE_B,
          config: EMPTY,
          layers: [EMPTY],
          subject: manifestDescriptor(subject),
          annotations: { [KEY]: 'short-lived' },
        });
        await push(extra);
        assert.equal((await list(subject.digest)).body.manifests.length, referrers.length + 1);
        assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/${extra.digest}`)).statusCode, 202);
        const { body } = await list(subject.digest);
        assert.equal(body.manifests.length, referrers.length);
        assert.ok(!body.manifests.some((d) => d.digest === extra.digest));
      });

      it('an index referrer without artifactType is listed without the field', async () => {
        const bare = indexManifest([manifestDescriptor(referrers[1]!)], OCI_INDEX, {
          subject: manifestDescriptor(subject),
        });
        await push(bare);
        const { body } = await list(subject.digest);
        const d = body.manifests.find((x) => x.digest === bare.digest);
        assert.ok(d !== undefined);
        assert.equal(d.mediaType, OCI_INDEX);
        assert.equal('artifactType' in d, false);
        assert.equal('annotations' in d, false);
        assert.equal((await c.request('DELETE', `/v2/${repo}/manifests/${bare.digest}`)).statusCode, 202);
      });

      it('referrers are per repository: a referrer pushed elsewhere is not listed here', async () => {
        const other = freshRepo('disc/referrers-elsewhere');
        assert.equal((await c.pushBlob(other, blob('{}'))).statusCode, 201);
        const foreign = imageManifest({
          artifactType: TYPE_A,
          config: EMPTY,
          layers: [EMPTY],
          subject: manifestDescriptor(subject),
          annotations: { [KEY]: 'foreign' },
        });
        assert.equal((await c.pushManifest(other, foreign.digest, foreign)).statusCode, 201);
        const { body } = await list(subject.digest);
        assert.ok(!body.manifests.some((d) => d.digest === foreign.digest));
        const there = await c.request('GET', `/v2/${other}/referrers/${subject.digest}`);
        assert.deepEqual(
          (there.json() as Index).manifests.map((d) => d.digest),
          [foreign.digest],
        );
      });

      it('the referrers tag schema is accepted: an index pushed to tag sha256-<hex>', async () => {
        const tag = subject.digest.replace(':', '-');
        const fallback = indexManifest(referrers.slice(0, 2).map((m) => manifestDescriptor(m)));
        const res = await c.pushManifest(repo, tag, fallback);
        assert.equal(res.statusCode, 201, res.body);
        const get = await c.request('GET', `/v2/${repo}/manifests/${tag}`, { headers: { accept: OCI_INDEX } });
        assert.equal(get.statusCode, 200);
        assert.deepEqual(get.rawPayload, fallback.bytes);
        assert.ok((await c.tags(repo)).includes(tag));
        // Clients update it by read-modify-write: the tag moves.
        const updated = indexManifest(referrers.slice(0, 3).map((m) => manifestDescriptor(m)));
        assert.equal((await c.pushManifest(repo, tag, updated)).statusCode, 201);
        const head = await c.request('HEAD', `/v2/${repo}/manifests/${tag}`);
        assert.equal(head.headers['docker-content-digest'], updated.digest);
      });
    });

    describe('catalog', () => {
      it('GET /v2/_catalog lists repositories in order, with n/last pagination and Link', async () => {
        const names = [freshRepo('cat/b'), freshRepo('cat/a'), freshRepo('cat/c')];
        for (const n of names) await c.pushImage(n, 'v1');
        const res = await c.request('GET', '/v2/_catalog');
        assert.equal(res.statusCode, 200);
        const all = (res.json() as { repositories: string[] }).repositories;
        for (const n of names) assert.ok(all.includes(n), n);
        const sorted = [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        assert.deepEqual(all, sorted);

        const walked: string[] = [];
        let url: string | null = '/v2/_catalog?n=2';
        for (let i = 0; url !== null && i < 1000; i++) {
          const page = await c.request('GET', url);
          assert.equal(page.statusCode, 200);
          const repos = (page.json() as { repositories: string[] }).repositories;
          assert.ok(repos.length <= 2);
          walked.push(...repos);
          url = nextLink(page);
        }
        assert.deepEqual(walked, all);
      });

      it('the catalog shows only what the token may pull', async () => {
        const mine = freshRepo('team/visible');
        const theirs = freshRepo('other/hidden');
        await c.pushImage(mine, 'v1');
        await c.pushImage(theirs, 'v1');
        const token = await h.token(['pull'], ['team/**']);
        const res = await c.request('GET', '/v2/_catalog', { auth: h.auth(token) });
        assert.equal(res.statusCode, 200);
        const repos = (res.json() as { repositories: string[] }).repositories;
        assert.ok(repos.includes(mine));
        assert.ok(!repos.includes(theirs));
        for (const r of repos) assert.ok(r.startsWith('team/'), r);
      });

      it('n=0 returns an empty catalog', async () => {
        const res = await c.request('GET', '/v2/_catalog?n=0');
        assert.equal(res.statusCode, 200);
        assert.deepEqual((res.json() as { repositories: string[] }).repositories, []);
        assert.equal(res.headers.link, undefined);
      });
    });
  });
}
