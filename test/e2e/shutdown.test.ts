// Graceful shutdown of a real `fixity serve`: SIGTERM while an upload streams lets it finish (or aborts it
// cleanly), the process exits 0, and after a restart no partial blob is visible.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabases } from '../support/databases.ts';
import { type ServerProcess, startServerProcess } from '../support/server-process.ts';
import {
  corruptBlobFiles,
  getBlob,
  openRequest,
  type Registry,
  request,
  sha256,
  startUpload,
  withDigest,
} from './registry-client.ts';

const MiB = 1024 * 1024;
const QUICK_EXIT_MS = 5_000;
// src/main.ts SHUTDOWN_GRACE_MS: how long a stalled upload may hold the shutdown, plus slack.
const STALLED_EXIT_MS = 10_000 + 5_000;

async function waitForSize(path: string, atLeast: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (((await stat(path).catch(() => null))?.size ?? 0) < atLeast) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${path} to reach ${atLeast} bytes`);
    await sleep(10);
  }
}

const timed = async <T>(p: Promise<T>): Promise<{ value: T; ms: number }> => {
  const start = Date.now();
  const value = await p;
  return { value, ms: Date.now() - start };
};

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`graceful shutdown on SIGTERM (${database.name})`, () => {
    let server: ServerProcess;
    const reg = (): Registry => ({ url: server.url, auth: server.auth() });
    const headers = () => ({ Authorization: server.auth(), 'Content-Type': 'application/octet-stream' });

    before(async () => {
      server = await startServerProcess({ database });
    });
    after(async () => {
      // Also on failure: kill the child, remove the data dir, drop the schema.
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('SIGTERM when idle exits 0 at once and removes server.json and server.pid', async () => {
      const { value: exit, ms } = await timed(server.stop());
      assert.deepEqual(exit, { code: 0, signal: null }, server.logs());
      assert.ok(ms < QUICK_EXIT_MS, `exit took ${ms} ms`);
      assert.equal(existsSync(join(server.dataDir, 'server.json')), false);
      assert.equal(existsSync(join(server.dataDir, 'server.pid')), false);
      await server.restart();
    });

    test('SIGTERM the moment server.json appears (the server announced itself) still shuts down cleanly', async () => {
      assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.logs());
      // inotify reports server.json as it is created: the signal lands right after the server has listened
      // and announced itself, which is when `fixity down` or a supervisor may first send it.
      let sent = false;
      const watcher = watch(server.dataDir, (_event, file) => {
        if (file === 'server.json' && !sent && server.pid > 0) {
          sent = true;
          process.kill(server.pid, 'SIGTERM');
        }
      });
      try {
        await server.restart().catch(() => undefined);
        const exit = await server.exited();
        assert.ok(sent, 'server.json never appeared');
        assert.deepEqual(exit, { code: 0, signal: null }, `killed by the default SIGTERM action:\n${server.logs()}`);
        assert.equal(existsSync(join(server.dataDir, 'server.pid')), false, 'a stale server.pid is left behind');
        assert.equal(existsSync(join(server.dataDir, 'server.json')), false, 'a stale server.json is left behind');
      } finally {
        watcher.close();
        if (!server.running) await server.restart();
      }
    });

    test('SIGTERM during a streaming PUT lets it finish (or aborts it cleanly) and exits 0', async (t) => {
      const repo = 'shutdown/finish';
      const blob = randomBytes(4 * MiB);
      const digest = sha256(blob);
      const location = await startUpload(reg(), repo);
      const put = openRequest(withDigest(location, digest), 'PUT', { ...headers(), 'Content-Length': blob.length });
      // More than the blob store's 1 MiB write batch, so the upload is demonstrably under way.
      await put.write(blob.subarray(0, 2 * MiB));
      await waitForSize(join(server.dataDir, 'uploads', new URL(location).pathname.split('/').at(-1)!), 1);

      const stopping = timed(server.stop());
      await sleep(100);
      await put.write(blob.subarray(2 * MiB)).catch(() => undefined);
      put.end();
      const outcome = await put.result;
      t.diagnostic(outcome instanceof Error ? `aborted: ${outcome.message}` : `finished: HTTP ${outcome.status}`);
      const { value: exit, ms } = await stopping;
      assert.deepEqual(exit, { code: 0, signal: null }, server.logs());
      assert.ok(ms < QUICK_EXIT_MS, `exit took ${ms} ms`);

      await server.restart();
      const got = await getBlob(reg(), repo, digest);
      if (!(outcome instanceof Error) && outcome.status === 201) {
        assert.equal(got.status, 200, 'the acknowledged upload is gone after the restart');
        assert.ok(got.body.equals(blob), 'the acknowledged upload changed');
      } else {
        assert.equal(got.status, 404, `an unacknowledged upload is visible (${String(outcome)})`);
      }
      assert.deepEqual(await corruptBlobFiles(server.dataDir), []);
    });

    test('SIGTERM with a stalled PATCH aborts it after the grace period: exit 0, chunk discarded, session resumable', async () => {
      const repo = 'shutdown/stalled';
      const blob = randomBytes(4 * MiB);
      const digest = sha256(blob);
      const half = MiB;
      const location = await startUpload(reg(), repo);
      const first = await request(location, {
        method: 'PATCH',
        headers: { ...headers(), 'Content-Range': `0-${half - 1}`, 'Content-Length': half },
        body: blob.subarray(0, half),
      });
      assert.equal(first.status, 202, first.body.toString());

      const stalled = openRequest(location, 'PATCH', {
        ...headers(),
        'Content-Range': `${half}-${blob.length - 1}`,
        'Content-Length': blob.length - half,
      });
      // More than the blob store's 1 MiB write batch, so part of the chunk reaches the session file.
      await stalled.write(blob.subarray(half, half + 2 * MiB));
      await waitForSize(join(server.dataDir, 'uploads', new URL(location).pathname.split('/').at(-1)!), half + 1);

      const { value: exit, ms } = await timed(server.stop());
      assert.deepEqual(exit, { code: 0, signal: null }, server.logs());
      assert.ok(ms < STALLED_EXIT_MS, `exit took ${ms} ms`);
      assert.ok((await stalled.result) instanceof Error, 'the stalled request got a reply');

      await server.restart();
      assert.equal((await getBlob(reg(), repo, digest, 'HEAD')).status, 404);
      assert.deepEqual(await corruptBlobFiles(server.dataDir), []);
      // The aborted chunk was rolled back: the session holds exactly the first chunk and can be completed.
      const status = await request(location, { headers: { Authorization: server.auth() } });
      assert.equal(status.status, 204, status.body.toString());
      assert.equal(status.headers.range, `0-${half - 1}`);
      const rest = await request(withDigest(location, digest), {
        method: 'PUT',
        headers: { ...headers(), 'Content-Range': `${half}-${blob.length - 1}`, 'Content-Length': blob.length - half },
        body: blob.subarray(half),
      });
      assert.equal(rest.status, 201, rest.body.toString());
      const got = await getBlob(reg(), repo, digest);
      assert.ok(got.body.equals(blob));
    });
  });
}
