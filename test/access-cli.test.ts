// `fixity user` and `fixity token create --user` against a running `fixity serve`: principals with scoped
// roles, grants and revocations that take effect at once, disabling, --json on every command, error exits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage, request } from './e2e/registry-client.ts';
import { testDatabases } from './support/databases.ts';
import { type CLIResult, type ServerProcess, startServerProcess } from './support/server-process.ts';

type Json = Record<string, unknown>;

function json<T = Json>(r: CLIResult, what: string): T {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const basic = (secret: string) => `Basic ${Buffer.from(`cli:${secret}`).toString('base64')}`;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity user and token --user (${database.name})`, () => {
    let server: ServerProcess;
    let laptop: string;
    const as = (secret: string, args: string[]) =>
      server.cli([...args, '--server', server.url, '--token', secret], { bare: true });
    // Starting an upload is where the registry checks push: 202 when allowed.
    const pushAs = (secret: string, repo: string) =>
      request(`${server.url}/v2/${repo}/blobs/uploads/`, {
        method: 'POST',
        headers: { Authorization: basic(secret), 'Content-Length': 0 },
      });

    before(async () => {
      server = await startServerProcess({ database });
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('user create --role and --service print the principal with its scoped roles', async () => {
      const alice = json<{ kind: string; principal: { name: string; kind: string; roles: Json[] } }>(
        await server.cli([
          'user',
          'create',
          'alice',
          '--role',
          'approver:stage=staging',
          '--role',
          'builder:repo=shop/**',
          '--json',
        ]),
        'user create',
      );
      assert.equal(alice.kind, 'Principal');
      assert.equal(alice.principal.kind, 'user');
      assert.deepEqual(
        alice.principal.roles.map((r) => [r.role, r.stages, r.repos]),
        [
          ['approver', ['staging'], null],
          ['builder', null, ['shop/**']],
        ],
      );
      const ci = json<{ principal: { kind: string } }>(
        await server.cli(['user', 'create', 'ci', '--service', '--role', 'builder:repo=ci/**', '--json']),
        'user create --service',
      );
      assert.equal(ci.principal.kind, 'service');
      const human = await server.cli(['user', 'create', 'carol']);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /created user carol/);
    });

    test('user list shows every principal and its roles, as JSON and as a table', async () => {
      const listed = json<{ kind: string; items: Array<{ name: string; roles: Json[] }> }>(
        await server.cli(['user', 'list', '--json']),
        'user list',
      );
      assert.equal(listed.kind, 'PrincipalList');
      assert.deepEqual(listed.items.map((p) => p.name).sort(), ['admin', 'alice', 'carol', 'ci']);
      assert.deepEqual(
        listed.items.find((p) => p.name === 'admin')?.roles.map((r) => r.role),
        ['admin'],
      );
      const table = await server.cli(['user', 'list']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /alice\s+user\s+approver:stage=staging builder:repo=shop\/\*\*/);
    });

    test('token create --user makes a token of that user, bounded by its roles', async () => {
      const created = json<{ kind: string; secret: string; principal: { name: string } }>(
        await server.cli(['token', 'create', '--user', 'alice', '--name', 'laptop', '--scope', 'admin', '--json']),
        'token create --user',
      );
      assert.equal(created.kind, 'Token');
      assert.equal(created.principal.name, 'alice');
      laptop = created.secret;
      assert.equal((await pushAs(laptop, 'shop/web')).status, 202);
      assert.equal((await pushAs(laptop, 'other/web')).status, 403);
      const mine = json<{ items: Array<{ name: string; principal: { name: string } }> }>(
        await server.cli(['token', 'list', '--user', 'alice', '--json']),
        'token list --user',
      );
      assert.deepEqual(
        mine.items.map((t) => [t.name, t.principal.name]),
        [['laptop', 'alice']],
      );
      const me = json<{ principal: { name: string }; admin: boolean }>(
        await as(laptop, ['user', 'whoami', '--json']),
        'whoami',
      );
      assert.equal(me.principal.name, 'alice');
      assert.equal(me.admin, false);
    });

    test('user grant and revoke take effect at once', async () => {
      const granted = json<{ created: boolean; binding: { role: string; stages: string[] } }>(
        await server.cli(['user', 'grant', 'alice', 'releaser', '--stage', 'prod-*', '--json']),
        'user grant',
      );
      assert.equal(granted.created, true);
      assert.deepEqual(granted.binding.stages, ['prod-*']);
      const revoked = json<{ kind: string; revoked: Array<{ role: string }> }>(
        await server.cli(['user', 'revoke', 'alice', 'builder', '--json']),
        'user revoke',
      );
      assert.equal(revoked.kind, 'RoleRevocation');
      assert.deepEqual(
        revoked.revoked.map((b) => b.role),
        ['builder'],
      );
      assert.equal((await pushAs(laptop, 'shop/web')).status, 403);
      const again = await server.cli(['user', 'revoke', 'alice', 'builder']);
      assert.equal(again.code, 1, again.stderr);
      assert.match(again.stderr, /holds no such role/);
    });

    test('a non-admin is refused user management with exit 4', async () => {
      for (const args of [
        ['user', 'list'],
        ['user', 'create', 'mallory', '--role', 'admin'],
        ['user', 'grant', 'alice', 'admin'],
      ]) {
        const r = await as(laptop, args);
        assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /lacks the admin role/);
      }
    });

    test('bad input exits with a message that says what to do', async () => {
      const usage = await server.cli(['user', 'create', 'x', '--role', 'viewer:team=a']);
      assert.equal(usage.code, 2, usage.stderr);
      assert.match(usage.stderr, /stage=GLOB or repo=GLOB/);
      const unknown = await server.cli(['user', 'grant', 'nobody', 'viewer', '--json']);
      assert.equal(unknown.code, 1);
      assert.match(JSON.parse(unknown.stderr).error.message, /no user or service account is named "nobody"/);
      const role = await server.cli(['user', 'grant', 'alice', 'superuser']);
      assert.notEqual(role.code, 0);
      assert.match(role.stderr, /roles are viewer, builder, approver, releaser, admin/);
    });

    test('user disable stops every token of the user at once', async () => {
      const image = makeImage('access-cli');
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'shop/app', 'v1', image)).status, 201);
      const pull = () =>
        request(`${server.url}/v2/shop/app/manifests/v1`, {
          headers: { Authorization: basic(laptop), Accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
      // Authenticated but without a role for it: 403. Once disabled, the token no longer authenticates: 401.
      assert.equal((await pull()).status, 403);
      json(await as(laptop, ['user', 'whoami', '--json']), 'whoami before disable');
      const disabled = json<{ principal: { disabledAt: string | null } }>(
        await server.cli(['user', 'disable', 'alice', '--json']),
        'user disable',
      );
      assert.equal(typeof disabled.principal.disabledAt, 'string');
      assert.equal((await pull()).status, 401);
      const whoami = await as(laptop, ['user', 'whoami']);
      assert.equal(whoami.code, 4, whoami.stderr);
    });
  });
}
