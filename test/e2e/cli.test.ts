// The `fixity` CLI against a running `fixity serve`: tokens, garbage collection, error exits and --json.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import { type CLIResult, type ServerProcess, startServerProcess } from '../support/server-process.ts';
import {
  getBlob,
  getManifest,
  makeImage,
  pushBlob,
  pushImage,
  type Registry,
  request,
  sha256,
} from './registry-client.ts';

/** Exactly one JSON document on stdout (JSON.parse rejects two), and a clean exit. */
function json<T = Record<string, unknown>>(r: CLIResult, what: string): T {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}`);
  try {
    return JSON.parse(r.stdout) as T;
  } catch (err) {
    throw new Error(`${what} --json did not print one JSON document: ${(err as Error).message}\n${r.stdout}`);
  }
}

/** Every key anywhere in a JSON value. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...keysOf(v)]);
  return [];
}

const basic = (secret: string) => `Basic ${Buffer.from(`cli:${secret}`).toString('base64')}`;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity CLI against fixity serve (${database.name})`, () => {
    let server: ServerProcess;
    const admin = (): Registry => ({ url: server.url, auth: server.auth() });
    let ci: { id: string; secret: string };

    before(async () => {
      server = await startServerProcess({ database });
    });
    after(async () => {
      // Also on failure: kill the child, remove the data dir, drop the schema.
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('DIR/admin.token is mode 0600', async () => {
      const { mode } = await stat(join(server.dataDir, 'admin.token'));
      assert.equal(mode & 0o777, 0o600, `mode is ${(mode & 0o777).toString(8)}`);
    });

    test('token create --json prints the secret once, and it works for the granted scope only', async () => {
      const created = json<{ kind: string; id: string; secret: string; scopes: string[]; repos: string[] }>(
        await server.cli(['token', 'create', '--name', 'ci', '--scope', 'pull,push', '--repo', 'cli/**', '--json']),
        'token create',
      );
      assert.equal(created.kind, 'Token');
      assert.equal(typeof created.secret, 'string');
      assert.ok(created.secret.length >= 20);
      assert.deepEqual(created.scopes, ['pull', 'push']);
      assert.deepEqual(created.repos, ['cli/**']);
      ci = { id: created.id, secret: created.secret };

      const reg: Registry = { url: server.url, auth: basic(ci.secret) };
      const image = makeImage('cli-token');
      assert.equal((await pushImage(reg, 'cli/app', 'v1', image)).status, 201);
      assert.equal((await getManifest(reg, 'cli/app', 'v1')).status, 200);
      // Outside the granted repositories, and beyond the granted actions, the token is refused.
      const denied = await request(`${server.url}/v2/other/app/blobs/uploads/`, {
        method: 'POST',
        headers: { Authorization: reg.auth, 'Content-Length': 0 },
      });
      assert.equal(denied.status, 403, denied.body.toString());
      const del = await request(`${server.url}/v2/cli/app/manifests/${image.digest}`, {
        method: 'DELETE',
        headers: { Authorization: reg.auth },
      });
      assert.equal(del.status, 403, del.body.toString());
      const api = await request(`${server.url}/api/v1/tokens`, { headers: { Authorization: `Bearer ${ci.secret}` } });
      assert.equal(api.status, 403, 'a non-admin token cannot list tokens');
    });

    test('token list never shows secrets or hashes (JSON or table)', async () => {
      const listed = json<{ kind: string; items: Array<{ id: string; name: string }> }>(
        await server.cli(['token', 'list', '--json']),
        'token list',
      );
      assert.equal(listed.kind, 'TokenList');
      assert.deepEqual(listed.items.map((t) => t.name).sort(), ['admin', 'ci']);
      const keys = keysOf(listed).map((k) => k.toLowerCase());
      assert.deepEqual(
        keys.filter((k) => k.includes('secret') || k.includes('hash')),
        [],
      );
      const table = await server.cli(['token', 'list']);
      assert.equal(table.code, 0, table.stderr);
      for (const out of [JSON.stringify(listed), table.stdout]) {
        assert.ok(!out.includes(ci.secret), 'token list shows the secret of a token');
        assert.ok(!out.includes(server.token), 'token list shows the admin secret');
        assert.doesNotMatch(out, /\b[0-9a-f]{64}\b/, 'token list shows something hash-shaped');
      }
    });

    test('token revoke stops the token at once (registry 401, token flow 401)', async () => {
      const revoked = json<{ id: string; revoked: boolean }>(
        await server.cli(['token', 'revoke', ci.id, '--json']),
        'token revoke',
      );
      assert.deepEqual({ id: revoked.id, revoked: revoked.revoked }, { id: ci.id, revoked: true });
      const res = await getManifest({ url: server.url, auth: basic(ci.secret) }, 'cli/app', 'v1');
      assert.equal(res.status, 401, res.body.toString());
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm=/);
      const flow = await request(`${server.url}/token?service=fixity&scope=repository:cli/app:pull`, {
        headers: { Authorization: basic(ci.secret) },
      });
      assert.equal(flow.status, 401, flow.body.toString());
      const listed = json<{ items: Array<{ id: string; revokedAt: string | null }> }>(
        await server.cli(['token', 'list', '--json']),
        'token list',
      );
      assert.notEqual(listed.items.find((t) => t.id === ci.id)?.revokedAt ?? null, null);
      // The admin token is untouched.
      assert.equal((await getManifest(admin(), 'cli/app', 'v1')).status, 200);
    });

    test('errors go to stderr with a non-zero exit: unknown token id → 1, wrong token → 4', async () => {
      // Independent invocations: run them side by side to keep the suite quick.
      const wrongToken = (args: string[], secret: string) =>
        server.cli([...args, '--server', server.url, '--token', secret], { bare: true });
      const [unknown, unknownJson, wrongList, wrongGc, revokedToken, usage] = await Promise.all([
        server.cli(['token', 'revoke', 'no-such-token-id']),
        server.cli(['token', 'revoke', 'no-such-token-id', '--json']),
        wrongToken(['token', 'list'], 'not-a-token'),
        wrongToken(['gc', '--dry-run', '--json'], 'not-a-token'),
        wrongToken(['token', 'list'], ci.secret),
        server.cli(['token', 'create']),
      ]);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.equal(unknown.stdout, '');
      assert.match(unknown.stderr, /Cannot revoke token "no-such-token-id"/);

      assert.equal(unknownJson.code, 1);
      assert.equal(unknownJson.stdout, '');
      const body = JSON.parse(unknownJson.stderr) as { error: { code: string; message: string } };
      assert.match(body.error.message, /Cannot revoke token/);

      for (const wrong of [wrongList, wrongGc, revokedToken]) {
        assert.equal(wrong.code, 4, wrong.stderr);
        assert.equal(wrong.stdout, '');
        assert.notEqual(wrong.stderr.trim(), '');
      }

      assert.equal(usage.code, 2, `a missing --name is a usage error: ${usage.stderr}`);
      assert.equal(usage.stdout, '');
    });

    test('gc --dry-run reports an unreferenced blob; gc --grace 0s removes it and keeps referenced ones', async () => {
      const repo = 'cli/gc';
      const orphan = Buffer.from(`pushed without a manifest ${database.name}\n`);
      const orphanDigest = sha256(orphan);
      assert.equal((await pushBlob(admin(), repo, orphan)).status, 201);
      const image = makeImage('cli-gc');
      assert.equal((await pushImage(admin(), repo, 'kept', image)).status, 201);
      const referenced = [sha256(image.config), sha256(image.layer)];
      const file = (digest: string) => join(server.dataDir, 'blobs', 'sha256', digest.slice('sha256:'.length));

      type GC = {
        kind: string;
        dryRun: boolean;
        steps: Array<{ step: string; status: string; removed: number; digests?: string[] }>;
      };
      const removedBy = (gc: GC) => gc.steps.flatMap((s) => s.digests ?? []);

      // The data dir alone is enough for the CLI to find the server and the admin token.
      const dry = json<GC>(
        await server.cli(['gc', '--dry-run', '--grace', '0s', '--json', '--data', server.dataDir], { bare: true }),
        'gc --dry-run',
      );
      assert.equal(dry.kind, 'GarbageCollection');
      assert.equal(dry.dryRun, true);
      assert.ok(removedBy(dry).includes(orphanDigest), `the dry run does not report ${orphanDigest}`);
      for (const d of referenced) assert.ok(!removedBy(dry).includes(d), `the dry run would remove referenced ${d}`);
      assert.equal((await getBlob(admin(), repo, orphanDigest, 'HEAD')).status, 200, 'the dry run removed the blob');
      assert.ok(await stat(file(orphanDigest)), 'the dry run removed the file');

      const real = json<GC>(await server.cli(['gc', '--grace', '0s', '--json']), 'gc --grace 0s');
      assert.equal(real.dryRun, false);
      assert.deepEqual(
        real.steps.filter((s) => s.status === 'failed'),
        [],
      );
      assert.ok(removedBy(real).includes(orphanDigest), `gc did not remove ${orphanDigest}`);
      for (const d of referenced) assert.ok(!removedBy(real).includes(d), `gc removed referenced ${d}`);
      assert.equal((await getBlob(admin(), repo, orphanDigest, 'HEAD')).status, 404);
      assert.equal(await stat(file(orphanDigest)).catch(() => null), null, 'the blob file is still on disk');

      for (const [digest, bytes] of [
        [referenced[0]!, image.config],
        [referenced[1]!, image.layer],
      ] as const) {
        const got = await getBlob(admin(), repo, digest);
        assert.equal(got.status, 200, `gc broke referenced blob ${digest}`);
        assert.ok(got.body.equals(bytes));
      }
      const manifest = await getManifest(admin(), repo, 'kept');
      assert.equal(manifest.status, 200);
      assert.ok(manifest.body.equals(image.manifest));
      // Blobs referenced by manifests of earlier tests survive too.
      assert.equal((await getManifest(admin(), 'cli/app', 'v1')).status, 200);
    });

    test('version --json prints one JSON document', async () => {
      const v = json<{ kind: string; version: string }>(
        await server.cli(['version', '--json'], { bare: true }),
        'version',
      );
      assert.equal(v.kind, 'Version');
      assert.match(v.version, /^\d+\.\d+\.\d+/);
    });

    test('down --data DIR stops the server, which exits 0', async () => {
      const down = json<{ stopped: boolean; pid: number }>(
        await server.cli(['down', '--data', server.dataDir, '--json'], { bare: true }),
        'down',
      );
      assert.equal(down.stopped, true);
      assert.equal(down.pid, server.pid);
      const exit = await server.exited();
      assert.deepEqual(exit, { code: 0, signal: null }, server.logs());
      const again = json<{ stopped: boolean }>(
        await server.cli(['down', '--data', server.dataDir, '--json'], { bare: true }),
        'down (nothing running)',
      );
      assert.equal(again.stopped, false);
    });
  });
}
