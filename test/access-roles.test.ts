// Identity and roles, for every engine: users and service accounts, roles scoped to stages and repositories,
// tokens that never exceed their principal, revocation and disabling that take effect at once, the /users and
// /tokens API, and secrets that are shown once.
import assert from 'node:assert/strict';
import crypto, { createHash } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, it, mock } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { AccessError, createAccess, distinctPrincipals } from '../src/access/index.ts';
import { systemClock } from '../src/core/index.ts';
import { createGatekeeper } from '../src/server/gatekeeper.ts';
import { createTokenRecords } from '../src/store/index.ts';
import { adoptTokens } from '../src/store/migrate-access.ts';
import { testDatabases } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { assertOCIError, blob, client, freshRepo, uniqueBytes } from './support/registry-client.ts';

type Json = Record<string, unknown>;

for (const engine of await testDatabases()) {
  const label = engine.name;

  describe(`access: roles and tokens (${label})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;
    const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, secret: string, body?: unknown) => {
      const res = await h.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: { authorization: `Bearer ${secret}` },
        ...(body === undefined ? {} : { payload: body as Json }),
      });
      return { status: res.statusCode, body: res.body, json: () => res.json() as Json };
    };
    const admin = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) =>
      api(method, url, h.adminToken, body);
    /** Creates a principal with roles and returns a token secret of it (scopes default to admin: all it has). */
    const principal = async (
      name: string,
      roles: Array<{ role: string; stages?: string[]; repos?: string[] }>,
      token: { scopes?: string[]; repos?: string[]; kind?: 'user' | 'service' } = {},
    ) => {
      const created = await admin('POST', '/users', { name, kind: token.kind ?? 'user', roles });
      assert.equal(created.status, 201, created.body);
      const t = await admin('POST', '/tokens', {
        principal: name,
        name: `${name}-token`,
        scopes: token.scopes ?? ['admin'],
        repos: token.repos ?? ['**'],
      });
      assert.equal(t.status, 201, t.body);
      return t.json().secret as string;
    };
    const fakeRequest = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } }) as FastifyRequest;
    const push = (repo: string, secret: string) => c.pushBlob(repo, blob(uniqueBytes(`push-${repo}`)), h.auth(secret));

    before(async () => {
      h = await createHarness(await engine());
      c = client(h);
    });
    after(() => h.close());

    it('a viewer cannot push, and the refusal names the missing role', async () => {
      const secret = await principal('vic', [{ role: 'viewer' }]);
      const repo = freshRepo('viewer/app');
      await c.pushImage(repo, 'v1');
      assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: h.auth(secret) })).statusCode, 200);
      assertOCIError(await push(repo, secret), 403, 'DENIED');
      const gate = createGatekeeper(h.access);
      await assert.rejects(gate.authorize(fakeRequest(secret), 'registry.push', { repository: repo }), (err) => {
        assert.ok(err instanceof AccessError);
        assert.equal(err.code, 'FORBIDDEN');
        assert.equal(err.message, `Cannot registry.push on repository "${repo}": vic lacks the builder role`);
        return true;
      });
    });

    it('a builder pushes to its repositories only', async () => {
      const secret = await principal('bob', [{ role: 'builder', repos: ['team-b/**'] }]);
      assert.equal((await push('team-b/app', secret)).statusCode, 201);
      assertOCIError(await push('team-x/app', secret), 403, 'DENIED');
      const id = await h.access.authenticateSecret(secret);
      assert.equal(id?.can('sign', { repository: 'team-b/app' }), true);
      assert.equal(id?.can('sign', { repository: 'team-x/app' }), false);
      assert.equal(id?.can('approve', { repository: 'team-b/app', stage: 'staging' }), false);
    });

    it('an approver scoped to staging can approve there and not in prod', async () => {
      const secret = await principal('ann', [{ role: 'approver', stages: ['staging'] }]);
      const gate = createGatekeeper(h.access);
      const ok = await gate.authorize(fakeRequest(secret), 'approve', { repository: 'shop/web', stage: 'staging' });
      assert.equal(ok.principal.name, 'ann');
      await assert.rejects(
        gate.authorize(fakeRequest(secret), 'approve', { repository: 'shop/web', stage: 'prod' }),
        (err: AccessError) =>
          err.code === 'FORBIDDEN' &&
          err.message ===
            'Cannot approve on repository "shop/web", stage "prod": ann lacks the approver role there (holds approver for stages staging)',
      );
      await assert.rejects(
        gate.authorize(fakeRequest(secret), 'promote', { stage: 'staging' }),
        /lacks the releaser role/,
      );
    });

    it('a role revocation takes effect at once, for tokens and bearer tokens issued before it', async () => {
      const secret = await principal('dan', [{ role: 'builder', repos: ['dan/**'] }]);
      const bearer = await h.app.inject({
        method: 'GET',
        url: '/token?service=fixity&scope=repository:dan/app:pull,push',
        headers: { authorization: h.auth(secret) },
      });
      const flow = `Bearer ${(bearer.json() as { token: string }).token}`;
      assert.equal((await push('dan/app', secret)).statusCode, 201);
      assert.equal((await c.pushBlob('dan/app', blob(uniqueBytes('dan-flow')), flow)).statusCode, 201);
      const revoked = await admin('DELETE', '/users/dan/roles/builder');
      assert.equal(revoked.status, 200, revoked.body);
      assert.deepEqual(
        (revoked.json().revoked as Json[]).map((b) => b.role),
        ['builder'],
      );
      assertOCIError(await push('dan/app', secret), 403, 'DENIED');
      assertOCIError(await c.pushBlob('dan/app', blob(uniqueBytes('dan-flow-2')), flow), 401, 'UNAUTHORIZED');
      assert.equal((await admin('DELETE', '/users/dan/roles/builder')).status, 404, 'nothing left to revoke');
    });

    it("a disabled principal's tokens stop working at once, bearer tokens too", async () => {
      const secret = await principal('eve', [{ role: 'builder' }], { kind: 'service' });
      const repo = freshRepo('eve/app');
      const bearer = await h.app.inject({
        method: 'GET',
        url: `/token?service=fixity&scope=repository:${repo}:pull,push`,
        headers: { authorization: h.auth(secret) },
      });
      const flow = `Bearer ${(bearer.json() as { token: string }).token}`;
      assert.equal((await push(repo, secret)).statusCode, 201);
      const disabled = await admin('POST', '/users/eve/disable');
      assert.equal(disabled.status, 200, disabled.body);
      assert.equal(typeof (disabled.json().principal as Json).disabledAt, 'string');
      assertOCIError(await push(repo, secret), 401, 'UNAUTHORIZED');
      assertOCIError(await c.request('GET', `/v2/${repo}/tags/list`, { auth: flow }), 401, 'UNAUTHORIZED');
      assert.equal((await api('GET', '/users/me', secret)).status, 401);
      const again = await admin('POST', '/tokens', { principal: 'eve', name: 'again', scopes: ['pull'] });
      assert.equal(again.status, 403, again.body);
      assert.match(String((again.json().error as Json).message), /disabled/);
    });

    it("a token never exceeds its principal's roles", async () => {
      const viewerPush = await principal('val', [{ role: 'viewer' }], { scopes: ['push', 'delete'] });
      assertOCIError(await push(freshRepo('val/app'), viewerPush), 403, 'DENIED');
      const builderAdmin = await principal('ben', [{ role: 'builder' }], { scopes: ['admin'] });
      assert.equal((await api('GET', '/users', builderAdmin)).status, 403);
      assert.equal(
        (await api('POST', '/users', builderAdmin, { name: 'mallory', roles: [{ role: 'admin' }] })).status,
        403,
      );
      assert.equal((await api('POST', '/users/ben/roles', builderAdmin, { role: 'admin' })).status, 403);
      assert.equal((await api('GET', '/tokens?principal=admin', builderAdmin)).status, 403);
      const id = await h.access.authenticateSecret(builderAdmin);
      assert.equal(id?.admin, false);
    });

    it('a pull-only token of an admin user can only pull', async () => {
      const pullOnly = await principal('root2', [{ role: 'admin' }], { scopes: ['pull'] });
      const repo = freshRepo('root2/app');
      await c.pushImage(repo, 'v1');
      assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: h.auth(pullOnly) })).statusCode, 200);
      assertOCIError(await push(repo, pullOnly), 403, 'DENIED');
      assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/v1`, { auth: h.auth(pullOnly) }), 403, 'DENIED');
      for (const [method, url] of [
        ['GET', '/tokens'],
        ['GET', '/users'],
        ['POST', '/gc'],
      ] as const) {
        assert.equal((await api(method, url, pullOnly)).status, 403, url);
      }
      const mint = await api('POST', '/tokens', pullOnly, { name: 'escalate', scopes: ['admin'] });
      assert.equal(mint.status, 403, mint.body);
    });

    it('secrets are returned once, at creation, and never stored or listed', async () => {
      const created = await admin('POST', '/tokens', { principal: 'vic', name: 'once', scopes: ['pull'] });
      assert.equal(created.status, 201);
      const secret = created.json().secret as string;
      assert.match(secret, /^fxt_/);
      assert.deepEqual(created.json().principal, { ...(created.json().principal as Json), name: 'vic', kind: 'user' });
      const shown = [
        await admin('GET', '/tokens'),
        await admin('GET', '/users'),
        await admin('GET', '/users/vic'),
        await api('GET', '/users/me', secret),
        await admin('GET', '/events?limit=10000'),
      ];
      for (const res of shown) {
        assert.equal(res.status, 200, res.body);
        assert.ok(!res.body.includes(secret), 'a secret is shown after creation');
        assert.ok(!res.body.includes(h.adminToken), 'the admin secret is shown');
        assert.ok(!res.body.includes(createHash('sha256').update(secret).digest('hex')), 'a hash is shown');
      }
      for (const table of ['tokens', 'principals', 'role_bindings', 'token_principals', 'events'] as const) {
        const rows = JSON.stringify(await h.store.db.selectFrom(table).selectAll().execute());
        assert.ok(!rows.includes(secret.slice(4)), `${table} holds a secret`);
      }
    });

    it('users create tokens for themselves only, within the token they use', async () => {
      const full = await principal('alice', [{ role: 'builder', repos: ['team-a/**'] }], { repos: ['team-a/**'] });
      const mine = await api('POST', '/tokens', full, {
        name: 'ci',
        scopes: ['push'],
        repos: ['team-a/app'],
        expiresInSeconds: 600,
      });
      assert.equal(mine.status, 201, mine.body);
      assert.equal((mine.json().principal as Json).name, 'alice');
      const ci = mine.json().secret as string;
      assert.equal((await push('team-a/app', ci)).statusCode, 201);
      assertOCIError(await push('team-a/other', ci), 403, 'DENIED');
      const refused = [
        await api('POST', '/tokens', full, { principal: 'bob', name: 'x', scopes: ['pull'] }),
        await api('POST', '/tokens', full, { name: 'wide', scopes: ['push'], repos: ['**'] }),
        await api('POST', '/tokens', full, { name: 'release', scopes: ['release'], repos: ['team-a/app'] }),
        await api('POST', '/tokens', ci, { name: 'copy', scopes: ['push'], repos: ['team-a/app'] }),
      ];
      for (const res of refused) assert.equal(res.status, 403, res.body);
      assert.match(String((refused[0]!.json().error as Json).message), /for "bob": alice lacks the admin role/);
      const list = await api('GET', '/tokens', full);
      assert.equal(list.status, 200);
      assert.deepEqual(
        (list.json().items as Json[]).map((t) => (t.principal as Json).name),
        ['alice', 'alice'],
      );
      const adminTokens = (await admin('GET', '/tokens?principal=admin')).json().items as Json[];
      assert.ok(adminTokens.length > 0);
      assert.equal((await api('DELETE', `/tokens/${adminTokens[0]!.id}`, full)).status, 404);
      assert.equal((await api('DELETE', `/tokens/${mine.json().id}`, full)).status, 204);
      assertOCIError(await push('team-a/app', ci), 401, 'UNAUTHORIZED');
    });

    it('a self-made token cannot outlive the token that made it', async () => {
      const created = await admin('POST', '/tokens', {
        principal: 'alice',
        name: 'short',
        scopes: ['admin'],
        repos: ['**'],
        expiresInSeconds: 300,
      });
      const short = created.json().secret as string;
      const forever = await api('POST', '/tokens', short, { name: 'forever', scopes: ['pull'] });
      assert.equal(forever.status, 403, forever.body);
      assert.match(String((forever.json().error as Json).message), /outlives/);
      const brief = await api('POST', '/tokens', short, { name: 'brief', scopes: ['pull'], expiresInSeconds: 60 });
      assert.equal(brief.status, 201, brief.body);
    });

    it('/users is for admins, and checks names, kinds and roles', async () => {
      const viewer = await principal('watcher', [{ role: 'viewer' }]);
      assert.equal((await api('POST', '/users', viewer, { name: 'x' })).status, 403);
      assert.equal((await api('POST', '/users/watcher/disable', viewer)).status, 403);
      for (const body of [
        { name: 'watcher' },
        { name: 'bad name' },
        { name: 'anonymous' },
        { name: 'ok1', kind: 'robot' },
        { name: 'ok2', roles: [{ role: 'superuser' }] },
        { name: 'ok3', roles: [{ role: 'viewer', repos: [] }] },
      ]) {
        const res = await admin('POST', '/users', body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.body}`);
      }
      assert.match(
        String(((await admin('POST', '/users', { name: 'watcher' })).json().error as Json).message),
        /taken/,
      );
      assert.equal((await admin('POST', '/users/nobody/roles', { role: 'viewer' })).status, 404);
      assert.equal((await admin('GET', '/users/nobody')).status, 404);
      assert.equal((await api('GET', '/users/watcher', viewer)).status, 200, 'a principal may see itself');
      assert.equal((await api('GET', '/users/vic', viewer)).status, 403);
    });

    it('grants are idempotent, listed with their scopes, and recorded as events', async () => {
      const first = await admin('POST', '/users/watcher/roles', {
        role: 'releaser',
        stages: ['prod-*'],
        repos: ['shop/*'],
      });
      assert.equal(first.status, 201, first.body);
      const again = await admin('POST', '/users/watcher/roles', {
        role: 'releaser',
        stages: ['prod-*'],
        repos: ['shop/*'],
      });
      assert.equal(again.status, 200);
      assert.equal(again.json().created, false);
      const listed = (await admin('GET', '/users')).json().items as Array<{ name: string; roles: Json[] }>;
      const watcher = listed.find((p) => p.name === 'watcher');
      assert.deepEqual(
        watcher?.roles.map((r) => [r.role, r.stages, r.repos]),
        [
          ['viewer', null, null],
          ['releaser', ['prod-*'], ['shop/*']],
        ],
      );
      const narrow = await admin('DELETE', '/users/watcher/roles/releaser?stage=prod-*&repo=other/*');
      assert.equal(narrow.status, 404, 'only the binding with exactly those scopes');
      assert.equal((await admin('DELETE', '/users/watcher/roles/releaser?stage=prod-*&repo=shop/*')).status, 200);
      const events = (await admin('GET', '/events?limit=10000')).json().items as Array<{ kind: string; actor: string }>;
      const kinds = events.filter((e) => e.kind.startsWith('role.') || e.kind.startsWith('principal.'));
      assert.ok(kinds.some((e) => e.kind === 'role.grant' && e.actor.startsWith('admin#')));
      assert.ok(kinds.some((e) => e.kind === 'role.revoke' && e.actor.startsWith('admin#')));
      assert.ok(kinds.some((e) => e.kind === 'principal.disable'));
      assert.ok(kinds.some((e) => e.kind === 'principal.create'));
    });

    it('GET /users/me shows the principal, roles and token limits of the caller', async () => {
      const secret = await principal('meg', [{ role: 'approver', stages: ['staging'] }], { scopes: ['release'] });
      const me = await api('GET', '/users/me', secret);
      assert.equal(me.status, 200);
      const body = me.json();
      assert.equal((body.principal as Json).name, 'meg');
      assert.deepEqual(
        (body.roles as Json[]).map((r) => [r.role, r.stages]),
        [['approver', ['staging']]],
      );
      assert.deepEqual((body.token as Json).scopes, ['release']);
      assert.equal(body.admin, false);
    });

    it('token secrets and bearer tokens are still compared in constant time', async () => {
      const secret = await principal('tim', [{ role: 'viewer' }]);
      // Named imports of built-in modules follow the module object once synced, so the access room's
      // `timingSafeEqual` is the spy here.
      const spy = mock.method(crypto, 'timingSafeEqual');
      syncBuiltinESMExports();
      try {
        const id = await h.access.authenticateSecret(secret);
        assert.ok(id !== null);
        const afterSecret = spy.mock.callCount();
        assert.ok(afterSecret >= 1, 'authenticateSecret() did not use timingSafeEqual');
        const { token } = h.access.issueBearer(id, [{ repo: 'tim/app', actions: ['pull'] }]);
        assert.ok((await h.access.verifyBearer(token)) !== null);
        assert.ok(spy.mock.callCount() > afterSecret, 'verifyBearer() did not use timingSafeEqual');
      } finally {
        spy.mock.restore();
        syncBuiltinESMExports();
      }
    });

    it('separation of duties compares principals: two tokens of one user are one person', async () => {
      const one = await principal('sam', [{ role: 'approver' }]);
      const two = (await admin('POST', '/tokens', { principal: 'sam', name: 'second', scopes: ['release'] })).json()
        .secret as string;
      const a = await h.access.authenticateSecret(one);
      const b = await h.access.authenticateSecret(two);
      assert.ok(a !== null && b !== null);
      assert.notEqual(a.actor, b.actor);
      assert.equal(distinctPrincipals(a, b), false);
      assert.equal(distinctPrincipals(a.actor, b.actor), false);
      assert.equal(distinctPrincipals(a, await h.access.authenticateSecret(h.adminToken).then((x) => x!)), true);
    });
  });

  describe(`access: the last admin (${label})`, () => {
    let h: Harness;
    const admin = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, secret?: string) =>
      h.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: { authorization: `Bearer ${secret ?? h.adminToken}` },
        ...(body === undefined ? {} : { payload: body as Json }),
      });
    before(async () => {
      h = await createHarness(await engine());
    });
    after(() => h.close());

    it('the last enabled admin can neither be disabled nor lose the admin role', async () => {
      const disable = await admin('POST', '/users/admin/disable');
      assert.equal(disable.statusCode, 403, disable.body);
      assert.match(disable.body, /last enabled principal with the admin role/);
      assert.equal((await admin('DELETE', '/users/admin/roles/admin')).statusCode, 403);
      assert.equal((await admin('GET', '/users/me')).statusCode, 200, 'nothing changed');
      assert.equal((await admin('POST', '/users', { name: 'root', roles: [{ role: 'admin' }] })).statusCode, 201);
      const revoked = await admin('DELETE', '/users/admin/roles/admin');
      assert.equal(revoked.statusCode, 200, revoked.body);
      assert.equal((await admin('GET', '/users')).statusCode, 403, 'the old admin token lost the role at once');
    });

    it('tokens from before principals existed are adopted by a service account named after them', async () => {
      const secret = `fxt_${'legacy'.padEnd(43, 'x')}`;
      await h.store.db
        .insertInto('tokens')
        .values({
          id: 'legacy-token-1',
          name: 'old-ci',
          hash: createHash('sha256').update(secret).digest('hex'),
          scopes: JSON.stringify(['pull', 'push']),
          repos: JSON.stringify(['legacy/**']),
          created_at: '2025-01-01T00:00:00.000Z',
          expires_at: null,
          revoked_at: null,
        })
        .execute();
      const another = createAccess({
        records: createTokenRecords(h.store),
        clock: systemClock,
        signingKey: Buffer.alloc(32, 1),
      });
      assert.equal(await another.authenticateSecret(secret), null, 'a token without a principal does not work');
      await adoptTokens(h.store.db, '2025-06-01T00:00:00.000Z');
      const id = await h.access.authenticateSecret(secret);
      assert.equal(id?.principal.name, 'old-ci');
      assert.equal(id?.principal.kind, 'service');
      assert.deepEqual(
        id?.roles.map((r) => [r.role, r.repos]),
        [['builder', ['legacy/**']]],
      );
      assert.equal(id?.allows('legacy/app', 'push'), true);
      assert.equal(id?.allows('other/app', 'pull'), false);
    });
  });
}
