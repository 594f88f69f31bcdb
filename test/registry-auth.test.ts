// Registry authentication and authorization, for every engine: Basic with a token as password, the Docker
// bearer-token flow at GET /token (challenges, scopes, insufficient_scope), forged, revoked and expired
// credentials, anonymous pull, and tokens stored only as hashes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { createHarness, createManualClock, type Harness } from './support/harness.ts';
import {
  assertOCIError,
  basic,
  blob,
  client,
  freshRepo,
  type Response,
  uniqueBytes,
} from './support/registry-client.ts';

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/** Parses `Bearer k="v",k="v"` into its parameters. */
function challenge(res: Response): Record<string, string> {
  const header = String(res.headers['www-authenticate'] ?? '');
  assert.match(header, /^Bearer /, `no Bearer challenge: ${header}`);
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/([a-z_]+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return params;
}

const bearer = (token: string) => `Bearer ${token}`;

for (const engine of await testDatabases()) {
  const label = engine.name.replace('Database', '');

  describe(`registry auth (${label})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;
    const repo = freshRepo('team/app');
    let image: Awaited<ReturnType<ReturnType<typeof client>['pushImage']>>;

    before(async () => {
      h = await createHarness(await engine());
      c = client(h);
      image = await c.pushImage(repo, 'v1');
    });
    after(() => h.close());

    const getToken = async (auth: string | null, ...scopes: string[]) => {
      const query = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
      return h.app.inject({
        method: 'GET',
        url: `/token?service=fixity${query === '' ? '' : `&${query}`}`,
        headers: auth === null ? {} : { authorization: auth },
      });
    };

    describe('challenges', () => {
      it('no credentials: 401 UNAUTHORIZED with a Bearer challenge naming realm, service and scope', async () => {
        const res = await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: null });
        assertOCIError(res, 401, 'UNAUTHORIZED');
        const params = challenge(res);
        assert.match(params.realm!, /^https?:\/\/[^/]+\/token$/);
        assert.equal(params.service, 'fixity');
        assert.equal(params.scope, `repository:${repo}:pull`);
        assert.equal(
          res.headers['www-authenticate'],
          `Bearer realm="${params.realm}",service="fixity",scope="repository:${repo}:pull"`,
        );
      });

      it('the challenge for a push names the push scope', async () => {
        const res = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { auth: null });
        assertOCIError(res, 401, 'UNAUTHORIZED');
        assert.match(challenge(res).scope!, new RegExp(`^repository:${repo}:(pull,)?push$`));
      });

      it('GET /v2/ without credentials: 401 with a challenge (the ping clients start with)', async () => {
        const res = await c.request('GET', '/v2/', { auth: null });
        assert.equal(res.statusCode, 401);
        const params = challenge(res);
        assert.match(params.realm!, /\/token$/);
        assert.equal(params.service, 'fixity');
      });

      it('HEAD without credentials carries the challenge too (clients resolve tags with HEAD)', async () => {
        const res = await c.request('HEAD', `/v2/${repo}/manifests/v1`, { auth: null });
        assert.equal(res.statusCode, 401);
        assert.equal(challenge(res).scope, `repository:${repo}:pull`);
        assert.equal(res.rawPayload.byteLength, 0);
      });

      it('the realm follows the Host header', async () => {
        const res = await c.request('GET', `/v2/${repo}/tags/list`, {
          auth: null,
          headers: { host: 'registry.example:7070' },
        });
        assert.equal(challenge(res).realm, 'http://registry.example:7070/token');
      });

      it('a wrong password: 401', async () => {
        for (const auth of [
          basic('test', 'fxt_not-a-real-token'),
          basic('test', ''),
          basic('test', `${h.adminToken}x`),
          'Basic !!!not-base64!!!',
          bearer('fxt_not-a-real-token'),
          'Digest username="x"',
        ]) {
          const res = await c.request('GET', `/v2/${repo}/manifests/v1`, { auth });
          assertOCIError(res, 401, 'UNAUTHORIZED');
          assert.ok(res.headers['www-authenticate'] !== undefined, auth);
        }
      });

      it('the token secret works as a Basic password with any user name, and as a raw bearer', async () => {
        const token = await h.token(['pull']);
        for (const auth of [basic('anyone', token), basic('', token), bearer(token)]) {
          assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200, auth);
        }
      });
    });

    describe('scopes on Basic credentials', () => {
      it('a pull-only token can pull but pushing answers 403 DENIED', async () => {
        const auth = h.auth(await h.token(['pull']));
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200);
        assert.equal((await c.request('GET', `/v2/${repo}/blobs/${image.config.digest}`, { auth })).statusCode, 200);
        const b = blob(uniqueBytes('denied'));
        assertOCIError(await c.pushBlob(repo, b, auth), 403, 'DENIED');
        assertOCIError(await c.request('POST', `/v2/${repo}/blobs/uploads/`, { auth }), 403, 'DENIED');
        assertOCIError(await c.pushManifest(repo, 'v2', image.manifest, auth), 403, 'DENIED');
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/v1`, { auth }), 403, 'DENIED');
        // Nothing changed.
        assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${b.digest}`)).statusCode, 404);
        assert.deepEqual(await c.tags(repo), ['v1']);
      });

      it('a token limited to team/* cannot pull other/x, nor team/a/b, but can pull team/x', async () => {
        const other = freshRepo('other/x');
        const deep = freshRepo('team/a/b');
        await c.pushImage(other, 'v1');
        await c.pushImage(deep, 'v1');
        const auth = h.auth(await h.token(['pull', 'push'], ['team/*']));
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200);
        for (const r of [other, deep]) {
          assertOCIError(await c.request('GET', `/v2/${r}/manifests/v1`, { auth }), 403, 'DENIED');
          assertOCIError(await c.request('GET', `/v2/${r}/tags/list`, { auth }), 403, 'DENIED');
          assertOCIError(
            await c.request('GET', `/v2/${r}/referrers/${image.manifest.digest}`, { auth }),
            403,
            'DENIED',
          );
          assertOCIError(await c.pushBlob(r, blob(uniqueBytes('x')), auth), 403, 'DENIED');
        }
      });

      it('push implies pull; upload sessions of the token are usable', async () => {
        const auth = h.auth(await h.token(['push'], ['team/**']));
        const r = freshRepo('team/pushed');
        const b = blob(uniqueBytes('pushed'));
        assert.equal((await c.pushBlob(r, b, auth)).statusCode, 201);
        assert.equal((await c.request('GET', `/v2/${r}/blobs/${b.digest}`, { auth })).statusCode, 200);
      });

      it('an upload session URL cannot be driven by a token without push on that repository', async () => {
        const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
        assert.equal(post.statusCode, 202);
        const url = String(post.headers.location);
        const b = blob(uniqueBytes('hijack'));
        const puller = h.auth(await h.token(['pull']));
        const res = await c.request('PUT', `${url}?digest=${b.digest}`, { auth: puller, payload: b.bytes });
        assertOCIError(res, 403, 'DENIED');
        assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${b.digest}`)).statusCode, 404);
      });
    });

    describe('Docker token flow', () => {
      it('GET /token with Basic credentials returns {token, access_token, expires_in, issued_at}', async () => {
        const res = await getToken(h.auth(), `repository:${repo}:pull,push`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json() as TokenResponse;
        assert.equal(typeof body.token, 'string');
        assert.ok(body.token.length > 20);
        assert.equal(body.access_token, body.token);
        assert.equal(typeof body.expires_in, 'number');
        assert.ok(body.expires_in >= 60);
        assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 60_000, body.issued_at);
      });

      it('the bearer token works for the granted scope', async () => {
        const target = freshRepo('foo');
        const { token } = (await getToken(h.auth(), `repository:${target}:pull,push`)).json() as TokenResponse;
        const auth = bearer(token);
        const b = blob(uniqueBytes('via-bearer'));
        assert.equal((await c.pushBlob(target, b, auth)).statusCode, 201);
        assert.equal((await c.request('GET', `/v2/${target}/blobs/${b.digest}`, { auth })).statusCode, 200);
        assert.equal((await c.request('GET', '/v2/', { auth })).statusCode, 200);
      });

      it('outside its scope the bearer token yields 401 with error="insufficient_scope"', async () => {
        const { token } = (await getToken(h.auth(), `repository:${repo}:pull`)).json() as TokenResponse;
        const auth = bearer(token);
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200);
        const push = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { auth });
        assertOCIError(push, 401, 'UNAUTHORIZED');
        const p = challenge(push);
        assert.equal(p.error, 'insufficient_scope');
        assert.match(p.scope!, new RegExp(`^repository:${repo}:(pull,)?push$`));
        const other = freshRepo('elsewhere/app');
        await c.pushImage(other, 'v1');
        const pull = await c.request('GET', `/v2/${other}/manifests/v1`, { auth });
        assertOCIError(pull, 401, 'UNAUTHORIZED');
        assert.equal(challenge(pull).error, 'insufficient_scope');
        assert.equal(challenge(pull).scope, `repository:${other}:pull`);
      });

      it('several scope parameters are all granted', async () => {
        const a = freshRepo('multi/a');
        const b = freshRepo('multi/b');
        const res = await getToken(h.auth(), `repository:${a}:pull,push`, `repository:${b}:pull`);
        const auth = bearer((res.json() as TokenResponse).token);
        assert.equal((await c.pushBlob(a, blob(uniqueBytes('multi-a')), auth)).statusCode, 201);
        assertOCIError(await c.pushBlob(b, blob(uniqueBytes('multi-b')), auth), 401, 'UNAUTHORIZED');
      });

      it('a token cannot gain through the flow what its grant lacks', async () => {
        const puller = await h.token(['pull'], ['team/**']);
        const res = await getToken(h.auth(puller), `repository:${repo}:pull,push,delete`, 'repository:other/x:pull');
        assert.equal(res.statusCode, 200);
        const auth = bearer((res.json() as TokenResponse).token);
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200);
        assertOCIError(await c.pushBlob(repo, blob(uniqueBytes('escalate')), auth), 401, 'UNAUTHORIZED');
        assertOCIError(await c.request('DELETE', `/v2/${repo}/manifests/v1`, { auth }), 401, 'UNAUTHORIZED');
        assertOCIError(await c.request('GET', '/v2/other/x/tags/list', { auth }), 401, 'UNAUTHORIZED');
      });

      it('a bearer token from the flow is not an admin credential for the JSON API', async () => {
        const { token } = (await getToken(h.auth(), `repository:${repo}:pull`)).json() as TokenResponse;
        const res = await h.app.inject({
          method: 'GET',
          url: '/api/v1/tokens',
          headers: { authorization: bearer(token) },
        });
        assert.equal(res.statusCode, 403);
      });

      it('POST /token (OAuth2) answers 404/405 so containerd falls back to GET, or issues a token', async () => {
        const res = await h.app.inject({
          method: 'POST',
          url: '/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: `grant_type=password&service=fixity&scope=repository:${repo}:pull&username=test&password=${h.adminToken}`,
        });
        assert.ok([200, 404, 405].includes(res.statusCode), `${res.statusCode}`);
        if (res.statusCode === 200) assert.equal(typeof (res.json() as TokenResponse).access_token, 'string');
      });

      it('GET /token without or with wrong credentials answers 401', async () => {
        const none = await getToken(null, `repository:${repo}:pull`);
        assert.equal(none.statusCode, 401);
        assert.ok(none.headers['www-authenticate'] !== undefined);
        const wrong = await getToken(basic('test', 'fxt_wrong'), `repository:${repo}:pull`);
        assert.equal(wrong.statusCode, 401);
      });

      it('a forged or tampered bearer token answers 401', async () => {
        const { token } = (
          await getToken(h.auth(await h.token(['pull'], ['team/**'])), `repository:${repo}:pull`)
        ).json() as TokenResponse;
        const [prefix, payload, mac] = [token.slice(0, 4), ...token.slice(4).split('.')] as [string, string, string];
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
          access: Array<{ repo: string; actions: string[] }>;
        };
        claims.access = [
          { repo, actions: ['pull', 'push', 'delete'] },
          { repo: 'other/x', actions: ['pull'] },
        ];
        const widened = Buffer.from(JSON.stringify(claims)).toString('base64url');
        const flipped = mac.startsWith('A') ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
        for (const forged of [
          `${prefix}${widened}.${mac}`,
          `${prefix}${payload}.${flipped}`,
          `${prefix}${payload}.`,
          `${prefix}${payload}`,
          `${prefix}e30.${mac}`,
          'fxb.eyJzdWIiOm51bGx9.AAAA',
          `${token}x`,
        ]) {
          const res = await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: bearer(forged) });
          assertOCIError(res, 401, 'UNAUTHORIZED');
          assert.equal(challenge(res).error, undefined, forged);
        }
      });

      it('a revoked token stops working, for Basic and for bearer tokens issued from it', async () => {
        const created = await h.access.createToken({ name: 'soon-revoked', scopes: ['pull'], repos: ['**'] }, 'test');
        const auth = h.auth(created.secret);
        const { token } = (await getToken(auth, `repository:${repo}:pull`)).json() as TokenResponse;
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200);
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: bearer(token) })).statusCode, 200);
        assert.equal(await h.access.revokeToken(created.token.id, 'test'), true);
        assertOCIError(await c.request('GET', `/v2/${repo}/manifests/v1`, { auth }), 401, 'UNAUTHORIZED');
        assertOCIError(
          await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: bearer(token) }),
          401,
          'UNAUTHORIZED',
        );
        assert.equal((await getToken(auth, `repository:${repo}:pull`)).statusCode, 401);
      });

      it('a token revoked through the JSON API stops working at once', async () => {
        const created = await h.access.createToken({ name: 'api-revoked', scopes: ['pull'], repos: ['**'] }, 'test');
        const auth = h.auth(created.secret);
        assert.equal((await c.request('GET', `/v2/${repo}/manifests/v1`, { auth })).statusCode, 200);
        const del = await h.app.inject({
          method: 'DELETE',
          url: `/api/v1/tokens/${created.token.id}`,
          headers: { authorization: bearer(h.adminToken) },
        });
        assert.equal(del.statusCode, 204);
        assertOCIError(await c.request('GET', `/v2/${repo}/manifests/v1`, { auth }), 401, 'UNAUTHORIZED');
      });

      it('an expired token is refused', async () => {
        const created = await h.access.createToken(
          { name: 'expired', scopes: ['pull'], repos: ['**'], expiresAt: new Date(Date.now() - 1000) },
          'test',
        );
        const res = await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: h.auth(created.secret) });
        assertOCIError(res, 401, 'UNAUTHORIZED');
      });
    });

    describe('token storage', () => {
      it('tokens are stored hashed: no column of the tokens table holds a secret', async () => {
        const created = await h.access.createToken({ name: 'stored', scopes: ['push'], repos: ['team/**'] }, 'test');
        const rows = (await h.store.db.selectFrom('tokens').selectAll().execute()) as Array<Record<string, unknown>>;
        assert.ok(rows.length >= 2);
        const secrets = [created.secret, h.adminToken];
        for (const row of rows) {
          const text = JSON.stringify(row);
          for (const s of secrets) {
            assert.ok(!text.includes(s), 'a token secret is stored in clear');
            assert.ok(!text.includes(s.slice(4)), 'a token secret body is stored in clear');
          }
        }
        const mine = rows.find((r) => r.id === created.token.id);
        assert.ok(mine !== undefined);
        assert.equal(mine.hash, createHash('sha256').update(created.secret).digest('hex'));
      });

      it('the token list API never returns secrets or hashes', async () => {
        const res = await h.app.inject({
          method: 'GET',
          url: '/api/v1/tokens',
          headers: { authorization: bearer(h.adminToken) },
        });
        assert.equal(res.statusCode, 200);
        assert.ok(!res.body.includes(h.adminToken));
        for (const t of (res.json() as { items: Array<Record<string, unknown>> }).items) {
          assert.equal(t.hash, undefined);
          assert.equal(t.secret, undefined);
        }
      });
    });
  });

  describe(`registry anonymous pull (${label})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;
    const clock = createManualClock(Date.now());
    const open = freshRepo('public/app');
    const closed = freshRepo('private/app');

    before(async () => {
      h = await createHarness(await engine(), { anonymousPull: ['public/**'], clock });
      c = client(h);
      await c.pushImage(open, 'v1');
      await c.pushImage(closed, 'v1');
    });
    after(() => h.close());

    it('anonymous callers pull from public/**', async () => {
      const res = await c.request('GET', `/v2/${open}/manifests/v1`, { auth: null });
      assert.equal(res.statusCode, 200);
      assert.equal((await c.request('GET', `/v2/${open}/tags/list`, { auth: null })).statusCode, 200);
    });

    it('anonymous callers get a 401 challenge elsewhere', async () => {
      const res = await c.request('GET', `/v2/${closed}/manifests/v1`, { auth: null });
      assertOCIError(res, 401, 'UNAUTHORIZED');
      assert.equal(challenge(res).scope, `repository:${closed}:pull`);
    });

    it('anonymous push is refused, even to public/**', async () => {
      const b = blob(uniqueBytes('anon-push'));
      const res = await c.pushBlob(open, b, null);
      assertOCIError(res, [401, 403], ['UNAUTHORIZED', 'DENIED']);
      assert.equal((await c.request('HEAD', `/v2/${open}/blobs/${b.digest}`)).statusCode, 404);
      const start = await c.request('POST', `/v2/${open}/blobs/uploads/`, { auth: null });
      assertOCIError(start, [401, 403], ['UNAUTHORIZED', 'DENIED']);
      assertOCIError(
        await c.request('DELETE', `/v2/${open}/manifests/v1`, { auth: null }),
        [401, 403],
        ['UNAUTHORIZED', 'DENIED'],
      );
    });

    it('the catalog shows anonymous callers only public repositories', async () => {
      const res = await c.request('GET', '/v2/_catalog', { auth: null });
      assert.equal(res.statusCode, 200);
      const repos = (res.json() as { repositories: string[] }).repositories;
      assert.ok(repos.includes(open));
      assert.ok(!repos.includes(closed));
    });

    it('an anonymous token from /token grants only public pulls', async () => {
      const res = await h.app.inject({
        method: 'GET',
        url: `/token?service=fixity&scope=repository:${open}:pull,push&scope=repository:${closed}:pull`,
      });
      assert.equal(res.statusCode, 200);
      const auth = bearer((res.json() as TokenResponse).token);
      assert.equal((await c.request('GET', `/v2/${open}/manifests/v1`, { auth })).statusCode, 200);
      assertOCIError(await c.request('GET', `/v2/${closed}/manifests/v1`, { auth }), 401, 'UNAUTHORIZED');
      assertOCIError(await c.pushBlob(open, blob(uniqueBytes('anon-bearer')), auth), 401, 'UNAUTHORIZED');
    });

    it('a bearer token stops working once it expires', async () => {
      const res = await h.app.inject({
        method: 'GET',
        url: `/token?service=fixity&scope=repository:${closed}:pull`,
        headers: { authorization: h.auth() },
      });
      const body = res.json() as TokenResponse;
      const auth = bearer(body.token);
      assert.equal((await c.request('GET', `/v2/${closed}/manifests/v1`, { auth })).statusCode, 200);
      clock.advance((body.expires_in + 1) * 1000);
      assertOCIError(await c.request('GET', `/v2/${closed}/manifests/v1`, { auth }), 401, 'UNAUTHORIZED');
    });

    it('an invalid credential is not downgraded to anonymous', async () => {
      const res = await c.request('GET', `/v2/${open}/manifests/v1`, { auth: basic('x', 'fxt_wrong') });
      assertOCIError(res, 401, 'UNAUTHORIZED');
    });
  });
}
