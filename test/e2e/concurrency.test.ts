// Parallel pushes against a real `fixity serve`: the same blob from 20 clients at once, and 20 manifests
// tagged into one repository at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import { type ServerProcess, startServerProcess } from '../support/server-process.ts';
import {
  blobFiles,
  getBlob,
  getManifest,
  listTags,
  makeImage,
  pushBlob,
  pushImage,
  pushManifest,
  type Registry,
  sha256,
} from './registry-client.ts';

const PARALLEL = 20;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`concurrent pushes (${database.name})`, () => {
    let server: ServerProcess;
    let reg: Registry;

    before(async () => {
      server = await startServerProcess({ database });
      reg = { url: server.url, auth: server.auth() };
    });
    after(async () => {
      // Also on failure: kill the child, remove the data dir, drop the schema.
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test(`${PARALLEL} parallel POST+PUT of the same blob all succeed and leave one file`, async () => {
      const blob = randomBytes(256 * 1024);
      const digest = sha256(blob);
      const before = await blobFiles(server.dataDir);
      const replies = await Promise.all(Array.from({ length: PARALLEL }, () => pushBlob(reg, 'conc/blob', blob)));
      assert.deepEqual(
        replies.map((r) => r.status),
        Array(PARALLEL).fill(201),
        replies.map((r) => r.body.toString()).join('\n'),
      );
      for (const r of replies) assert.equal(r.headers['docker-content-digest'], digest);
      const files = await blobFiles(server.dataDir);
      assert.deepEqual(
        files.filter((f) => !before.includes(f)),
        [digest.slice('sha256:'.length)],
      );
      assert.deepEqual(await readdir(join(server.dataDir, 'uploads')), [], 'no upload session is left behind');
      const got = await getBlob(reg, 'conc/blob', digest);
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(blob));
    });

    test(`${PARALLEL} parallel manifest pushes of different tags into one repository all succeed`, async () => {
      const repo = 'conc/tags';
      // Shared blobs first; then manifests that differ only in their annotation.
      const base = makeImage('base');
      assert.equal((await pushImage(reg, repo, 'base', base)).status, 201);
      const images = Array.from({ length: PARALLEL }, (_, i) => {
        const manifest = JSON.parse(base.manifest.toString()) as { annotations: Record<string, string> };
        manifest.annotations['org.example.n'] = String(i);
        const bytes = Buffer.from(JSON.stringify(manifest));
        return { tag: `t${String(i).padStart(2, '0')}`, bytes, digest: sha256(bytes) };
      });
      const replies = await Promise.all(images.map((m) => pushManifest(reg, repo, m.tag, m.bytes)));
      assert.deepEqual(
        replies.map((r) => r.status),
        Array(PARALLEL).fill(201),
        replies.map((r) => r.body.toString()).join('\n'),
      );
      const tags = await listTags(reg, repo);
      assert.deepEqual(tags, ['base', ...images.map((m) => m.tag)].sort());
      for (const m of images) {
        const got = await getManifest(reg, repo, m.tag);
        assert.equal(got.status, 200);
        assert.equal(got.headers['docker-content-digest'], m.digest);
        assert.ok(got.body.equals(m.bytes));
      }
    });
  });
}
