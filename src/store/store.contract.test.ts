// One contract for the store's database ports, run against every engine testDatabases() offers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { testDatabases } from '../../test/support/databases.ts';
import {
  canonicalBytes,
  canonicalJSON,
  createManualClock,
  type Digest,
  digestOf,
  globToRegExp,
} from '../core/index.ts';
import {
  createRegistryMetadata,
  createTokenRecords,
  listEvents,
  openDatabase,
  type PutManifestInput,
  type RegistryMetadata,
  type StoreDatabase,
  StoreError,
  type TokenRecord,
} from './index.ts';
import { migrateToLatest } from './migrations.ts';

const T0 = '2025-01-01T00:00:00.000Z';
const IMMUTABLE = globToRegExp('v*');
const isImmutable = (_repo: string, tag: string) => IMMUTABLE.test(tag);

const hasCode = (code: string) => (err: unknown) => err instanceof StoreError && err.code === code;

let unique = 0;
/** A repository name no other test uses, so tests share one database without seeing each other. */
const freshRepo = (label: string) => `${label}-${++unique}`;

/** A manifest whose bytes (and so digest) are unique to `repo` and `label`. */
function manifestInput(repo: string, label: string, fields: Partial<PutManifestInput> = {}): PutManifestInput {
  const content = canonicalBytes({ repo, label, schemaVersion: 2 });
  return {
    repo,
    digest: digestOf(content),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    content,
    artifactType: null,
    subject: null,
    annotations: null,
    blobs: [],
    children: [],
    tags: [],
    actor: 'alice',
    ...fields,
  };
}

for (const engine of await testDatabases()) {
  describe(`store contract (${engine.name.replace('Database', '')})`, () => {
    const clock = createManualClock(T0);
    let handle: Awaited<ReturnType<typeof engine>>;
    let store: StoreDatabase;
    let meta: RegistryMetadata;

    before(async () => {
      handle = await engine();
      store = await handle.open();
      meta = createRegistryMetadata(store, { clock, isImmutable });
    });

    after(async () => {
      await store?.close();
      await handle?.cleanup();
    });

    /** The events appended while `fn` runs. */
    async function eventsDuring(fn: () => Promise<unknown>) {
      const last = (await listEvents(store.db, { after: 0, limit: 1_000_000 })).at(-1)?.seq ?? 0;
      await fn();
      return listEvents(store.db, { after: last });
    }

    async function blob(repo: string, label: string): Promise<Digest> {
      const digest = digestOf(`${repo}/${label}`);
      await meta.linkBlob(repo, digest, label.length);
      return digest;
    }

    describe('migrations', () => {
      test('migrateToLatest() applies the schema once and is idempotent', async () => {
        const other = await engine();
        try {
          const raw = await openDatabase({
            url: other.url,
            ...(other.schema === undefined ? {} : { schema: other.schema }),
            skipMigrations: true,
          });
          try {
            const first = await migrateToLatest(raw.db as Kysely<unknown>, raw.dialect);
            assert.equal(first.error, undefined);
            const applied = first.results?.map((r) => [r.migrationName, r.status]) ?? [];
            assert.deepEqual(applied[0], ['0001_registry', 'Success']);
            assert.ok(applied.length >= 3, JSON.stringify(applied));
            assert.ok(
              applied.every(([, status]) => status === 'Success'),
              JSON.stringify(applied),
            );
            // In name order, each once.
            const names = applied.map(([name]) => name as string);
            assert.deepEqual(names, [...new Set(names)].sort());
            const second = await migrateToLatest(raw.db as Kysely<unknown>, raw.dialect);
            assert.equal(second.error, undefined);
            assert.deepEqual(second.results, []);
          } finally {
            await raw.close();
          }
          // Opening again migrates again, which must be a no-op.
          const reopened = await other.open();
          assert.deepEqual(await reopened.db.selectFrom('events').selectAll().execute(), []);
          await reopened.close();
        } finally {
          await other.cleanup();
        }
      });

      test('openDatabase() migrates a second database while another is open (a second PostgreSQL schema)', async () => {
        // The suite's own database is open and migrated; a second one must still get its own tables.
        const other = await engine();
        try {
          const second = await other.open();
          await createRegistryMetadata(second, { clock, isImmutable }).linkBlob('r', digestOf('x'), 1);
          assert.equal(await meta.storedBlobSize(digestOf('x')), null, 'the databases are separate');
          await second.close();
        } finally {
          await other.cleanup();
        }
      });
    });

    describe('blobs', () => {
      test('linkBlob() makes a blob visible in one repository only', async () => {
        const repo = freshRepo('blobs');
        const digest = await blob(repo, 'layer-1');
        assert.equal(await meta.blobSize(repo, digest), 'layer-1'.length);
        assert.equal(await meta.blobSize(freshRepo('elsewhere'), digest), null);
        assert.equal(await meta.storedBlobSize(digest), 'layer-1'.length);
        assert.equal(await meta.isKnownBlob(digest), true);
      });

      test('linkBlob() of a known blob into a second repository keeps one blob record', async () => {
        const a = freshRepo('mount-a');
        const b = freshRepo('mount-b');
        const digest = digestOf(`mount ${a}`);
        await meta.linkBlob(a, digest, 9);
        await meta.linkBlob(b, digest, 9);
        await meta.linkBlob(b, digest, 9);
        assert.equal(await meta.blobSize(b, digest), 9);
        const rows = await store.db.selectFrom('blobs').selectAll().where('digest', '=', digest).execute();
        assert.equal(rows.length, 1);
      });

      test('storedBlobSize() and blobSize() return null for an unknown digest', async () => {
        const digest = digestOf('never stored');
        assert.equal(await meta.storedBlobSize(digest), null);
        assert.equal(await meta.blobSize('nowhere', digest), null);
        assert.equal(await meta.isKnownBlob(digest), false);
      });

      test('unlinkBlob() removes the link, keeps the stored blob, and appends blob.delete', async () => {
        const repo = freshRepo('unlink');
        const digest = await blob(repo, 'layer');
        const events = await eventsDuring(async () => {
          assert.equal(await meta.unlinkBlob(repo, digest, 'bob'), true);
          assert.equal(await meta.unlinkBlob(repo, digest, 'bob'), false);
        });
        assert.equal(await meta.blobSize(repo, digest), null);
        assert.equal(await meta.storedBlobSize(digest), 'layer'.length);
        assert.deepEqual(
          events.map((e) => [e.kind, e.actor, e.repo, e.digest]),
          [['blob.delete', 'bob', repo, digest]],
        );
      });
    });

    describe('manifests', () => {
      test('putManifest() stores a manifest whose blobs are in the repository', async () => {
        const repo = freshRepo('put');
        const config = await blob(repo, 'config');
        const layer = await blob(repo, 'layer');
        const input = manifestInput(repo, 'm', { blobs: [config, layer, layer] });
        assert.deepEqual(await meta.putManifest(input), { created: true, tags: [] });
        const got = await meta.getManifest(repo, { digest: input.digest });
        assert.ok(got !== null);
        assert.equal(got.digest, input.digest);
        assert.equal(got.mediaType, input.mediaType);
        assert.equal(got.size, input.content.byteLength);
        assert.ok(Buffer.from(got.content).equals(input.content), 'the exact bytes come back');
        assert.equal(await meta.getManifest(repo, { digest: digestOf('other') }), null);
        assert.equal(await meta.getManifest(freshRepo('other'), { digest: input.digest }), null);
      });

      test('putManifest() refuses with MANIFEST_BLOB_UNKNOWN when a blob is not in the repository', async () => {
        const repo = freshRepo('missing-blob');
        const here = await blob(repo, 'here');
        const elsewhere = await blob(freshRepo('elsewhere'), 'elsewhere');
        const input = manifestInput(repo, 'm', { blobs: [here, elsewhere], tags: ['latest'] });
        await assert.rejects(
          meta.putManifest(input),
          (err: unknown) =>
            hasCode('MANIFEST_BLOB_UNKNOWN')(err) &&
            (err as StoreError).message.includes(elsewhere) &&
            JSON.stringify((err as StoreError).detail) === JSON.stringify({ missing: [elsewhere] }),
        );
        assert.equal(await meta.getManifest(repo, { digest: input.digest }), null);
        assert.deepEqual(await meta.listTags(repo), { tags: [], more: false });
      });

      test('putManifest() rolls back everything, the new repository included, when it refuses', async () => {
        const repo = freshRepo('rollback');
        const input = manifestInput(repo, 'm', { blobs: [digestOf('absent')], tags: ['latest'] });
        const events = await eventsDuring(() =>
          assert.rejects(meta.putManifest(input), hasCode('MANIFEST_BLOB_UNKNOWN')),
        );
        assert.deepEqual(events, []);
        assert.equal(await meta.listTags(repo), null);
      });

      test('putManifest() refuses an index whose child manifests are not in the repository', async () => {
        const repo = freshRepo('index');
        const child = manifestInput(repo, 'child-amd64');
        const absent = manifestInput(repo, 'child-arm64');
        await meta.putManifest(child);
        const index = manifestInput(repo, 'index', {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          children: [child.digest, absent.digest],
        });
        await assert.rejects(
          meta.putManifest(index),
          (err: unknown) =>
            hasCode('MANIFEST_BLOB_UNKNOWN')(err) &&
            JSON.stringify((err as StoreError).detail) === JSON.stringify({ missing: [absent.digest] }),
        );
        await meta.putManifest(absent);
        assert.equal((await meta.putManifest(index)).created, true);
      });

      test('putManifest() reports created: false when the same manifest is pushed again', async () => {
        const repo = freshRepo('repush');
        const input = manifestInput(repo, 'm');
        const events = await eventsDuring(async () => {
          assert.equal((await meta.putManifest(input)).created, true);
          assert.deepEqual(await meta.putManifest(input), { created: false, tags: [] });
          assert.deepEqual(await meta.putManifest({ ...input, tags: ['extra'] }), {
            created: false,
            tags: [{ tag: 'extra', previous: null }],
          });
        });
        assert.deepEqual(
          events.map((e) => e.kind),
          ['manifest.push', 'tag.create'],
        );
      });

      test('putManifest() creates tags, then moves them reporting the previous digest', async () => {
        const repo = freshRepo('tags');
        const one = manifestInput(repo, 'one', { tags: ['latest', 'stable'] });
        const two = manifestInput(repo, 'two', { tags: ['latest', 'stable'] });
        assert.deepEqual((await meta.putManifest(one)).tags, [
          { tag: 'latest', previous: null },
          { tag: 'stable', previous: null },
        ]);
        const events = await eventsDuring(async () => {
          assert.deepEqual((await meta.putManifest(two)).tags, [
            { tag: 'latest', previous: one.digest },
            { tag: 'stable', previous: one.digest },
          ]);
        });
        assert.deepEqual(
          events.map((e) => [e.kind, e.tag, e.digest, e.previous]),
          [
            ['manifest.push', null, two.digest, null],
            ['tag.move', 'latest', two.digest, one.digest],
            ['tag.move', 'stable', two.digest, one.digest],
          ],
        );
        assert.equal((await meta.getManifest(repo, { tag: 'latest' }))?.digest, two.digest);
        assert.equal(await meta.getManifest(repo, { tag: 'nope' }), null);
        // Pointing a tag where it already points changes nothing.
        assert.deepEqual((await meta.putManifest({ ...two, tags: ['latest'] })).tags, []);
      });

      test('putManifest() refuses to move an immutable tag, and stores nothing of that push', async () => {
        const repo = freshRepo('immutable');
        const one = manifestInput(repo, 'one', { tags: ['v1'] });
        const two = manifestInput(repo, 'two', { tags: ['latest', 'v1'] });
        await meta.putManifest(one);
        await assert.rejects(meta.putManifest(two), hasCode('TAG_IMMUTABLE'));
        assert.equal((await meta.getManifest(repo, { tag: 'v1' }))?.digest, one.digest);
        assert.equal(await meta.getManifest(repo, { digest: two.digest }), null);
        assert.deepEqual((await meta.listTags(repo))?.tags, ['v1']);
      });

      test('putManifest() accepts re-pushing the same digest to an immutable tag', async () => {
        const repo = freshRepo('immutable-repush');
        const one = manifestInput(repo, 'one', { tags: ['v1'] });
        await meta.putManifest(one);
        assert.deepEqual(await meta.putManifest(one), { created: false, tags: [] });
      });

      test('deleteTag() refuses an immutable tag and deletes a mutable one once', async () => {
        const repo = freshRepo('delete-tag');
        const one = manifestInput(repo, 'one', { tags: ['v1', 'latest'] });
        await meta.putManifest(one);
        await assert.rejects(meta.deleteTag(repo, 'v1', 'bob'), hasCode('TAG_IMMUTABLE'));
        const events = await eventsDuring(async () => {
          assert.equal(await meta.deleteTag(repo, 'latest', 'bob'), true);
          assert.equal(await meta.deleteTag(repo, 'latest', 'bob'), false);
        });
        assert.deepEqual(
          events.map((e) => [e.kind, e.tag, e.previous]),
          [['tag.delete', 'latest', one.digest]],
        );
        assert.deepEqual((await meta.listTags(repo))?.tags, ['v1']);
        assert.ok((await meta.getManifest(repo, { digest: one.digest })) !== null, 'the manifest stays');
      });

      test('deleteManifest() refuses while an immutable tag points at the manifest', async () => {
        const repo = freshRepo('delete-immutable');
        const one = manifestInput(repo, 'one', { tags: ['latest', 'v1.0'] });
        await meta.putManifest(one);
        await assert.rejects(meta.deleteManifest(repo, one.digest, 'bob'), hasCode('TAG_IMMUTABLE'));
        assert.ok((await meta.getManifest(repo, { digest: one.digest })) !== null);
        assert.deepEqual((await meta.listTags(repo))?.tags, ['latest', 'v1.0']);
      });

      test('deleteManifest() removes the manifest and the tags pointing at it', async () => {
        const repo = freshRepo('delete');
        const layer = await blob(repo, 'layer');
        const one = manifestInput(repo, 'one', { tags: ['a', 'b'], blobs: [layer] });
        const two = manifestInput(repo, 'two', { tags: ['c'] });
        await meta.putManifest(one);
        await meta.putManifest(two);
        const events = await eventsDuring(async () => {
          assert.equal(await meta.deleteManifest(repo, one.digest, 'bob'), true);
          assert.equal(await meta.deleteManifest(repo, one.digest, 'bob'), false);
        });
        assert.deepEqual(
          events.map((e) => [e.kind, e.actor, e.tag, e.digest, e.previous]),
          [
            ['tag.delete', 'bob', 'a', null, one.digest],
            ['tag.delete', 'bob', 'b', null, one.digest],
            ['manifest.delete', 'bob', null, one.digest, null],
          ],
        );
        assert.equal(await meta.getManifest(repo, { digest: one.digest }), null);
        assert.deepEqual((await meta.listTags(repo))?.tags, ['c']);
        assert.equal(await meta.blobSize(repo, layer), 'layer'.length, 'blob links stay');
      });
    });

    describe('listing', () => {
      test('listTags() returns null for an unknown repository', async () => {
        assert.equal(await meta.listTags(freshRepo('unknown')), null);
      });

      test('listTags() orders tags bytewise and pages with n, last and more', async () => {
        const repo = freshRepo('order');
        const tags = ['b', 'a', 'B', 'A', '_x', '0', 'a-b', 'aa'];
        await meta.putManifest(manifestInput(repo, 'm', { tags }));
        const all = ['0', 'A', 'B', '_x', 'a', 'a-b', 'aa', 'b'];
        assert.deepEqual(await meta.listTags(repo), { tags: all, more: false });
        assert.deepEqual(await meta.listTags(repo, { n: 3 }), { tags: ['0', 'A', 'B'], more: true });
        assert.deepEqual(await meta.listTags(repo, { n: 3, last: 'B' }), { tags: ['_x', 'a', 'a-b'], more: true });
        assert.deepEqual(await meta.listTags(repo, { n: 2, last: 'a-b' }), { tags: ['aa', 'b'], more: false });
        assert.deepEqual(await meta.listTags(repo, { last: 'Z' }), {
          tags: ['_x', 'a', 'a-b', 'aa', 'b'],
          more: false,
        });
        assert.deepEqual(await meta.listTags(repo, { last: 'b' }), { tags: [], more: false });
        assert.deepEqual(await meta.listTags(repo, { n: 8 }), { tags: all, more: false });
      });

      test('listRepositories() orders names bytewise and pages', async () => {
        const prefix = freshRepo('repos');
        for (const name of ['b', 'B', 'a']) await meta.linkBlob(`${prefix}/${name}`, digestOf(name), 1);
        const { repositories } = await meta.listRepositories();
        assert.deepEqual(
          repositories.filter((r) => r.startsWith(`${prefix}/`)),
          [`${prefix}/B`, `${prefix}/a`, `${prefix}/b`],
        );
        assert.deepEqual(await meta.listRepositories({ last: `${prefix}/B`, n: 1 }), {
          repositories: [`${prefix}/a`],
          more: true,
        });
      });

      test('listReferrers() lists manifests whose subject is the digest, optionally by artifact type', async () => {
        const repo = freshRepo('referrers');
        const subject = manifestInput(repo, 'subject');
        await meta.putManifest(subject);
        const sig = manifestInput(repo, 'sig', {
          subject: subject.digest,
          artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          annotations: { 'org.opencontainers.image.created': T0 },
        });
        const sbom = manifestInput(repo, 'sbom', { subject: subject.digest, artifactType: 'application/spdx+json' });
        const unrelated = manifestInput(repo, 'unrelated', { subject: digestOf('someone else') });
        await meta.putManifest(sig);
        clock.advance(1000);
        await meta.putManifest(sbom);
        await meta.putManifest(unrelated);
        // Referrers may arrive before their subject; another repository's referrers are not listed.
        await meta.putManifest(manifestInput(freshRepo('other'), 'sig', { subject: subject.digest }));

        const all = await meta.listReferrers(repo, subject.digest);
        assert.deepEqual(all, [
          {
            digest: sig.digest,
            mediaType: sig.mediaType,
            size: sig.content.byteLength,
            artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
            annotations: { 'org.opencontainers.image.created': T0 },
          },
          {
            digest: sbom.digest,
            mediaType: sbom.mediaType,
            size: sbom.content.byteLength,
            artifactType: 'application/spdx+json',
            annotations: null,
          },
        ]);
        assert.deepEqual(
          (await meta.listReferrers(repo, subject.digest, 'application/spdx+json')).map((r) => r.digest),
          [sbom.digest],
        );
        assert.deepEqual(await meta.listReferrers(repo, subject.digest, 'application/none'), []);
        assert.deepEqual(await meta.listReferrers(repo, digestOf('no referrers')), []);
      });
    });

    describe('garbage collection', () => {
      test('unreferencedBlobs() and forgetBlob() respect the cutoff and never take a referenced blob', async () => {
        const gcClock = createManualClock('2030-01-01T00:00:00.000Z');
        const gc = createRegistryMetadata(store, { clock: gcClock, isImmutable });
        const repo = freshRepo('gc');
        const loose = digestOf(`${repo} loose`);
        const used = digestOf(`${repo} used`);
        await gc.linkBlob(repo, loose, 5);
        await gc.linkBlob(repo, used, 4);
        const m = manifestInput(repo, 'm', { blobs: [used] });
        await gc.putManifest(m);
        const linkedAt = gcClock.now();
        const mine = async (cutoff: Date) =>
          (await gc.unreferencedBlobs(cutoff)).filter((d) => d === loose || d === used);

        // The grace period: a blob linked at the cutoff or later is not a candidate.
        assert.deepEqual(await mine(linkedAt), []);
        assert.equal(await gc.forgetBlob(loose, linkedAt), false);

        const later = new Date(linkedAt.getTime() + 1);
        assert.deepEqual(await mine(later), [loose]);
        assert.equal(await gc.forgetBlob(used, new Date('2100-01-01T00:00:00Z')), false);
        assert.equal(await gc.storedBlobSize(used), 4);

        // Linking again restarts the grace period.
        gcClock.advance(60_000);
        await gc.linkBlob(repo, loose, 5);
        assert.deepEqual(await mine(later), []);
        assert.equal(await gc.forgetBlob(loose, later), false);

        const muchLater = new Date(gcClock.now().getTime() + 1);
        assert.equal(await gc.forgetBlob(loose, muchLater), true);
        assert.equal(await gc.storedBlobSize(loose), null);
        assert.equal(await gc.blobSize(repo, loose), null, 'its repository links go with it');
        assert.equal(await gc.forgetBlob(loose, muchLater), false);

        // Unlinking from the repository does not free a blob a manifest still references...
        await gc.unlinkBlob(repo, used, 'bob');
        assert.deepEqual(await mine(muchLater), []);
        assert.equal(await gc.forgetBlob(used, muchLater), false);
        // ...deleting the manifest does.
        await gc.deleteManifest(repo, m.digest, 'bob');
        assert.deepEqual(await mine(muchLater), [used]);
        assert.equal(await gc.forgetBlob(used, muchLater), true);
      });
    });

    describe('events', () => {
      test('every recorded change appends an event whose body is the canonical JSON of its fields', async () => {
        const repo = freshRepo('events');
        const layer = await blob(repo, 'layer');
        const subject = manifestInput(repo, 'subject');
        const m = manifestInput(repo, 'm', {
          blobs: [layer],
          tags: ['latest'],
          subject: subject.digest,
          actor: 'carol',
        });
        const events = await eventsDuring(async () => {
          await meta.putManifest(m);
          await meta.deleteTag(repo, 'latest', 'carol');
        });
        assert.deepEqual(
          events.map((e) => e.kind),
          ['manifest.push', 'tag.create', 'tag.delete'],
        );
        for (const [i, e] of events.entries()) {
          if (i > 0) assert.equal(e.seq, events[i - 1]!.seq + 1, 'seq is dense');
          const body = JSON.parse(e.body) as Record<string, unknown>;
          assert.equal(canonicalJSON(body), e.body, 'the body is canonical');
          const { detail, ...fields } = body;
          assert.deepEqual(fields, {
            at: e.at,
            kind: e.kind,
            actor: e.actor,
            repo: e.repo,
            digest: e.digest,
            tag: e.tag,
            previous: e.previous,
          });
          if (e.kind === 'manifest.push') {
            assert.deepEqual(detail, { mediaType: m.mediaType, size: m.content.byteLength, subject: subject.digest });
          } else {
            assert.equal(detail, undefined);
          }
        }
        assert.equal(events[0]!.at, clock.now().toISOString(), 'times come from the injected clock');
      });

      test('listEvents() returns events in sequence order after a given seq, up to a limit', async () => {
        const repo = freshRepo('list-events');
        await eventsDuring(async () => {
          for (const tag of ['t1', 't2', 't3']) await meta.putManifest(manifestInput(repo, tag, { tags: [tag] }));
        });
        const all = await listEvents(store.db, { limit: 1_000_000 });
        const seqs = all.map((e) => e.seq);
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
        );
        const from = all.at(-4)!.seq;
        const page = await listEvents(store.db, { after: from, limit: 2 });
        assert.deepEqual(
          page.map((e) => e.seq),
          [from + 1, from + 2],
        );
        assert.deepEqual(await listEvents(store.db, { after: all.at(-1)!.seq }), []);
      });

      test('the events table refuses UPDATE and DELETE', async () => {
        const repo = freshRepo('append-only');
        await meta.putManifest(manifestInput(repo, 'm', { tags: ['x'] }));
        const [first] = await listEvents(store.db, { limit: 1 });
        assert.ok(first !== undefined);
        await assert.rejects(
          store.db.updateTable('events').set({ actor: 'mallory' }).where('seq', '=', first.seq).execute(),
          /append-only/,
        );
        await assert.rejects(store.db.deleteFrom('events').where('seq', '=', first.seq).execute(), /append-only/);
        await assert.rejects(store.db.deleteFrom('events').execute(), /append-only/);
        assert.deepEqual((await listEvents(store.db, { limit: 1 }))[0], first);
      });
    });

    describe('tokens', () => {
      const token = (id: string): TokenRecord => ({
        id,
        name: `ci ${id}`,
        hash: digestOf(`secret ${id}`).slice('sha256:'.length),
        scopes: ['pull', 'push'],
        repos: ['prod/**', 'staging/*'],
        createdAt: T0,
        expiresAt: '2026-01-01T00:00:00.000Z',
        revokedAt: null,
      });

      test('createTokenRecords() inserts, finds by hash and id, and lists', async () => {
        const tokens = createTokenRecords(store);
        const t = token('tok-find');
        const events = await eventsDuring(() => tokens.insert(t, 'admin'));
        assert.deepEqual(await tokens.findByHash(t.hash), t);
        assert.deepEqual(await tokens.findById(t.id), t);
        assert.equal(await tokens.findByHash('0'.repeat(64)), null);
        assert.equal(await tokens.findById('nope'), null);
        assert.ok((await tokens.list()).some((r) => r.id === t.id));
        assert.deepEqual(
          events.map((e) => [e.kind, e.actor]),
          [['token.create', 'admin']],
        );
        assert.equal(events[0]!.body.includes(t.hash), false, 'the hash stays out of the ledger');
      });

      test('createTokenRecords() refuses a second token with the same hash', async () => {
        const tokens = createTokenRecords(store);
        const t = token('tok-dup');
        await tokens.insert(t, 'admin');
        await assert.rejects(tokens.insert({ ...t, id: 'tok-dup-2' }, 'admin'));
        assert.equal(await tokens.findById('tok-dup-2'), null);
      });

      test('revoke() revokes once and answers false the second time', async () => {
        const tokens = createTokenRecords(store);
        const t = token('tok-revoke');
        await tokens.insert(t, 'admin');
        const at = '2025-06-01T00:00:00.000Z';
        const events = await eventsDuring(async () => {
          assert.equal(await tokens.revoke(t.id, at, 'admin'), true);
          assert.equal(await tokens.revoke(t.id, '2025-07-01T00:00:00.000Z', 'admin'), false);
          assert.equal(await tokens.revoke('unknown', at, 'admin'), false);
        });
        assert.equal((await tokens.findByHash(t.hash))?.revokedAt, at);
        assert.deepEqual(
          events.map((e) => e.kind),
          ['token.revoke'],
        );
      });
    });

    describe('concurrency', () => {
      test('20 parallel putManifest() calls into one repository with different tags all succeed', async () => {
        const repo = freshRepo('parallel');
        const layer = await blob(repo, 'shared-layer');
        const inputs = Array.from({ length: 20 }, (_, i) =>
          manifestInput(repo, `m${i}`, { blobs: [layer], tags: [`t${String(i).padStart(2, '0')}`] }),
        );
        const results = await Promise.all(inputs.map((input) => meta.putManifest(input)));
        assert.ok(results.every((r) => r.created && r.tags.length === 1));
        assert.equal((await meta.listTags(repo))?.tags.length, 20);
      });

      test('20 parallel pushes of one manifest under different tags create it once', async () => {
        const repo = freshRepo('parallel-same');
        const input = manifestInput(repo, 'm');
        const events = await eventsDuring(async () => {
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              meta.putManifest({ ...input, tags: [`t${String(i).padStart(2, '0')}`] }),
            ),
          );
          assert.equal(results.filter((r) => r.created).length, 1);
        });
        assert.equal(events.filter((e) => e.kind === 'manifest.push').length, 1);
        assert.equal(events.filter((e) => e.kind === 'tag.create').length, 20);
        assert.equal((await meta.listTags(repo))?.tags.length, 20);
      });

      test('20 parallel linkBlob() calls of one digest leave one blob row', async () => {
        const repo = freshRepo('parallel-link');
        const other = freshRepo('parallel-link-other');
        const digest = digestOf(`${repo} shared`);
        await Promise.all(Array.from({ length: 20 }, (_, i) => meta.linkBlob(i % 2 === 0 ? repo : other, digest, 6)));
        const rows = await store.db.selectFrom('blobs').selectAll().where('digest', '=', digest).execute();
        assert.equal(rows.length, 1);
        const links = await store.db.selectFrom('repo_blobs').select('repo').where('digest', '=', digest).execute();
        assert.deepEqual(links.map((l) => l.repo).sort(), [other, repo].sort());
      });
    });
  });
}
