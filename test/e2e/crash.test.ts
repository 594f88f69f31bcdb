// Crash safety of a real `fixity serve`: SIGKILL in the middle of a blob body, of a manifest body, and at a
// random moment under load; after a restart nothing half-written is visible and every acknowledged push is
// intact. FIXITY_E2E_SEED replays the random kill moments.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabases } from '../support/databases.ts';
import { type ServerProcess, startServerProcess } from '../support/server-process.ts';
import {
  corruptBlobFiles,
  getBlob,
  getManifest,
  type Image,
  listAllEvents,
  listTags,
  makeImage,
  OCI_MANIFEST,
  openRequest,
  pushBlob,
  pushImage,
  type Registry,
  request,
  sha256,
  startUpload,
  withDigest,
} from './registry-client.ts';

const MiB = 1024 * 1024;
const BLOB_SIZE = 8 * MiB;
const SEED = Number(process.env.FIXITY_E2E_SEED ?? Date.now() % 1_000_000_007);

// mulberry32: a tiny seeded PRNG, so a failing kill moment can be replayed with FIXITY_E2E_SEED.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The checks every restart must pass: no blob file whose bytes disagree with its name. */
async function assertBlobFilesIntact(server: ServerProcess): Promise<void> {
  assert.deepEqual(await corruptBlobFiles(server.dataDir), [], 'every blob file hashes to its name');
}

/** Every tag in `repo` resolves to a manifest whose bytes hash to the digest the registry reports. */
async function assertNoDanglingTags(reg: Registry, repo: string): Promise<string[]> {
  const tags = await listTags(reg, repo);
  for (const tag of tags) {
    const got = await getManifest(reg, repo, tag);
    assert.equal(got.status, 200, `tag ${repo}:${tag} points at a missing manifest: ${got.body.toString()}`);
    assert.equal(sha256(got.body), got.headers['docker-content-digest']);
  }
  return tags;
}

interface Acked {
  repo: string;
  tag: string;
  image: Image;
}

/** The manifest is served by tag and by digest byte for byte, and so are its blobs. */
async function assertIntact(reg: Registry, acked: Acked): Promise<void> {
  const { repo, tag, image } = acked;
  for (const ref of [tag, image.digest]) {
    const got = await getManifest(reg, repo, ref);
    assert.equal(got.status, 200, `acknowledged ${repo}:${ref} is gone: ${got.body.toString()}`);
    assert.ok(got.body.equals(image.manifest), `acknowledged ${repo}:${ref} changed`);
  }
  for (const blob of [image.config, image.layer]) {
    const got = await getBlob(reg, repo, sha256(blob));
    assert.equal(got.status, 200, `blob ${sha256(blob)} of acknowledged ${repo}:${tag} is gone`);
    assert.ok(got.body.equals(blob), `blob ${sha256(blob)} of acknowledged ${repo}:${tag} changed`);
  }
}

const uploadId = (location: string) => new URL(location).pathname.split('/').at(-1)!;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`crash safety under SIGKILL (${database.name})`, () => {
    let server: ServerProcess;
    const reg = (): Registry => ({ url: server.url, auth: server.auth() });

    before(async () => {
      server = await startServerProcess({ database });
    });
    after(async () => {
      // Also on failure: kill the child, remove the data dir, drop the schema.
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    for (const method of ['PATCH', 'PUT'] as const) {
      test(`SIGKILL while a ${method} streams the second half of an 8 MiB chunked upload leaves no blob`, async () => {
        const blob = randomBytes(BLOB_SIZE);
        const digest = sha256(blob);
        const half = BLOB_SIZE / 2;
        const repo = `crash/upload-${method.toLowerCase()}`;

        const location = await startUpload(reg(), repo);
        const first = await request(location, {
          method: 'PATCH',
          headers: {
            Authorization: server.auth(),
            'Content-Type': 'application/octet-stream',
            'Content-Range': `0-${half - 1}`,
            'Content-Length': half,
          },
          body: blob.subarray(0, half),
        });
        assert.equal(first.status, 202, first.body.toString());

        const second = openRequest(
          method === 'PUT' ? withDigest(location, digest) : location,
          method,
          method === 'PUT'
            ? { Authorization: server.auth(), 'Content-Type': 'application/octet-stream', 'Content-Length': half }
            : {
                Authorization: server.auth(),
                'Content-Type': 'application/octet-stream',
                'Content-Range': `${half}-${BLOB_SIZE - 1}`,
                'Content-Length': half,
              },
        );
        // More than the blob store's 1 MiB write batch, so part of it reaches the session file.
        await second.write(blob.subarray(half, half + 2 * MiB));
        // Kill only once the server is demonstrably writing the second chunk into the session file.
        const sessionFile = join(server.dataDir, 'uploads', uploadId(location));
        await waitFor('the server to write part of the second chunk', async () => {
          const size = await stat(sessionFile).then(
            (s) => s.size,
            () => 0,
          );
          return size > half;
        });
        await server.kill();
        const outcome = await second.result;
        assert.ok(
          outcome instanceof Error,
          `the request finished before the kill: HTTP ${(outcome as { status?: number }).status}`,
        );

        await server.restart();
        for (const method of ['HEAD', 'GET']) {
          assert.equal((await getBlob(reg(), repo, digest, method)).status, 404, `${method} finds a half-written blob`);
        }
        assert.equal(await stat(join(server.dataDir, 'blobs', 'sha256', digest.slice(7))).catch(() => null), null);
        await assertBlobFilesIntact(server);

        const fresh = await pushBlob(reg(), repo, blob);
        assert.equal(fresh.status, 201, fresh.body.toString());
        const got = await getBlob(reg(), repo, digest);
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(blob), 'the fresh upload serves the exact bytes');
        await assertBlobFilesIntact(server);
      });
    }

    test('SIGKILL during a manifest push leaves no dangling tag and keeps every acknowledged push', async () => {
      const repo = 'crash/manifests';
      const base = makeImage('crash-base');
      assert.equal((await pushImage(reg(), repo, 'base', base)).status, 201);
      const acked: Acked[] = [{ repo, tag: 'base', image: base }];
      const unexpected: string[] = [];

      // Pushes keep going in the background until the kill; each 201 is recorded.
      let stop = false;
      const loop = (async () => {
        for (let i = 0; !stop; i++) {
          const image = { ...base, ...manifestVariant(base, `m${i}`) };
          const tag = `m${i}`;
          const res = await request(`${server.url}/v2/${repo}/manifests/${tag}`, {
            method: 'PUT',
            headers: { Authorization: server.auth(), 'Content-Type': OCI_MANIFEST },
            body: image.manifest,
          }).catch((err: Error) => err);
          if (res instanceof Error) return;
          if (res.status === 201) acked.push({ repo, tag, image });
          else unexpected.push(`${tag}: HTTP ${res.status} ${res.body.toString()}`);
        }
      })();
      await waitFor('a few acknowledged pushes', async () => acked.length > 5);

      const halfImage = manifestVariant(base, 'half');
      const half = openRequest(`${server.url}/v2/${repo}/manifests/half`, 'PUT', {
        Authorization: server.auth(),
        'Content-Type': OCI_MANIFEST,
        'Content-Length': halfImage.manifest.length,
      });
      await half.write(halfImage.manifest.subarray(0, halfImage.manifest.length >> 1));
      await sleep(100);
      stop = true;
      await server.kill();
      await loop;
      assert.ok((await half.result) instanceof Error, 'the half-sent manifest got a reply');
      assert.deepEqual(unexpected, []);

      await server.restart();
      const tags = await assertNoDanglingTags(reg(), repo);
      assert.ok(!tags.includes('half'), 'the half-sent manifest was tagged');
      assert.equal((await getManifest(reg(), repo, halfImage.digest)).status, 404);
      for (const a of acked) await assertIntact(reg(), a);
      await assertBlobFilesIntact(server);
    });

    test(`SIGKILL at random moments under concurrent pushes keeps every acknowledged push (seed ${SEED})`, async (t) => {
      t.diagnostic(`FIXITY_E2E_SEED=${SEED}`);
      const random = prng(SEED);
      const repo = 'crash/loop';
      const acked: Acked[] = [];
      const unexpected: string[] = [];
      const ROUNDS = 3;
      const WORKERS = 4;

      for (let round = 0; round < ROUNDS; round++) {
        let killed = false;
        const worker = async (w: number) => {
          for (let i = 0; !killed; i++) {
            const tag = `r${round}-w${w}-${i}`;
            const image = makeImage(`${SEED}-${tag}`);
            const res = await pushImage(reg(), repo, tag, image).catch((err: Error) => err);
            if (res instanceof Error) {
              if (!killed) unexpected.push(`${tag}: ${res.message}`);
              return;
            }
            if (res.status === 201) acked.push({ repo, tag, image });
            else if (!killed) unexpected.push(`${tag}: HTTP ${res.status} ${res.body.toString()}`);
          }
        };
        const ackedBefore = acked.length;
        const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
        // A random moment after the round's first acknowledgement, so every round has something to lose.
        await waitFor('a first acknowledged push', async () => acked.length > ackedBefore || unexpected.length > 0);
        await sleep(Math.floor(random() * 300));
        killed = true;
        await server.kill();
        await Promise.all(workers);
        assert.deepEqual(unexpected, [], `round ${round}`);

        await server.restart();
        await assertNoDanglingTags(reg(), repo);
        for (const a of acked) await assertIntact(reg(), a);
        await assertBlobFilesIntact(server);
      }
      assert.ok(acked.length > 0, 'no push was acknowledged before any kill');

      const events = await listAllEvents(server.url, server.auth());
      for (const { repo, tag, image } of acked) {
        assert.ok(
          events.some((e) => e.kind === 'manifest.push' && e.repo === repo && e.digest === image.digest),
          `no manifest.push event for acknowledged ${repo}@${image.digest}`,
        );
        assert.ok(
          events.some(
            (e) =>
              (e.kind === 'tag.create' || e.kind === 'tag.move') &&
              e.repo === repo &&
              e.tag === tag &&
              e.digest === image.digest,
          ),
          `no tag event for acknowledged ${repo}:${tag}`,
        );
      }
      const seqs = events.map((e) => e.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'events come in sequence order',
      );
      assert.equal(new Set(seqs).size, seqs.length, 'no sequence number repeats');
    });
  });
}

/** The base image with a different manifest (an extra annotation); blobs are shared. */
function manifestVariant(base: Image, name: string): Image {
  const manifest = JSON.parse(base.manifest.toString()) as { annotations: Record<string, string> };
  manifest.annotations['org.example.variant'] = name;
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { ...base, manifest: bytes, digest: sha256(bytes) };
}
