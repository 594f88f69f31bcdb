// GET /api/v1/audit/report in process on every engine: any valid token may read it, each format comes with
// its content type, the page forbids scripts, and bad parameters are refused with a clear message.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { createAccess } from '../src/access/index.ts';
import { createManualClock } from '../src/core/index.ts';
import { renderAPIError } from '../src/server/api-error.ts';
import { auditRoutes } from '../src/server/audit-routes.ts';
import { createGatekeeper } from '../src/server/gatekeeper.ts';
import { createTokenRecords } from '../src/store/index.ts';
import { at, D3, ORIGIN, STORY, type StoryLedger, storyLedger } from './audit-kit.ts';
import { type TestDatabase, testDatabases } from './support/databases.ts';

for (const makeEngine of await testDatabases()) {
  describe(`audit report API (${makeEngine.name})`, () => {
    let engine: TestDatabase;
    let l: StoryLedger;
    let app: FastifyInstance;
    let auth: string;
    let narrow: string;
    const get = (url: string, authorization = auth) => app.inject({ method: 'GET', url, headers: { authorization } });

    before(async () => {
      engine = await makeEngine();
      l = await storyLedger(engine);
      const clock = createManualClock(at(10));
      const access = createAccess({ records: createTokenRecords(l.store), clock, signingKey: Buffer.alloc(32, 7) });
      // A viewer with a pull token: the report spans every repository, so its role must cover them all.
      const { secret } = await access.createToken({ name: 'auditor', scopes: ['pull'], repos: ['**'] }, 'test');
      auth = `Bearer ${secret}`;
      const scoped = await access.createToken({ name: 'team-a', scopes: ['pull'], repos: ['team-a/*'] }, 'test');
      narrow = `Bearer ${scoped.secret}`;
      app = Fastify();
      await app.register(
        async (api) => {
          api.setErrorHandler(renderAPIError);
          await auditRoutes(api, {
            ledger: l.ledger,
            gate: createGatekeeper(access),
            clock,
            key: { publicKey: l.signer.publicKey, origin: ORIGIN },
          });
        },
        { prefix: '/api/v1' },
      );
      await app.ready();
    });
    after(async () => {
      await app?.close();
      await l?.close();
      await engine?.cleanup();
    });

    test('GET /audit/report refuses a caller without a token', async () => {
      const res = await get('/api/v1/audit/report', '');
      assert.equal(res.statusCode, 401);
      assert.equal(JSON.parse(res.body).error.code, 'UNAUTHENTICATED');
    });

    test('GET /audit/report refuses a viewer of some repositories: the report spans them all', async () => {
      const res = await get('/api/v1/audit/report', narrow);
      assert.equal(res.statusCode, 403);
      assert.match(JSON.parse(res.body).error.message, /Cannot audit\.read: team-a lacks the viewer .*role there/);
    });

    test('GET /audit/report returns the JSON report, filtered, with the signature checked', async () => {
      const res = await get('/api/v1/audit/report?stage=production&since=2025-03-01');
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.headers['content-type'] as string, /^application\/json/);
      const body = JSON.parse(res.body);
      assert.equal(body.kind, 'AuditReport');
      assert.equal(body.ok, true);
      assert.equal(body.checkpoint.signatureChecked, true);
      assert.deepEqual(
        body.rows.filter((r: { context?: boolean }) => !r.context).map((r: { index: number }) => r.index),
        [STORY.holdProduction, STORY.approveD3Production, STORY.promoteD3Production],
      );
      assert.equal(body.subjects[0].digest, D3);
    });

    test('GET /audit/report takes durations back from the server clock', async () => {
      const body = JSON.parse((await get('/api/v1/audit/report?since=2d&limit=3')).body);
      assert.equal(body.filters.since, '2025-03-08T12:00:00.000Z');
      assert.equal(body.rows.filter((r: { context?: boolean }) => !r.context).length, 3);
      assert.ok(body.counts.omitted > 0);
    });

    test('GET /audit/report?format=md and format=html render the same report', async () => {
      const md = await get('/api/v1/audit/report?format=md&stage=staging');
      assert.equal(md.statusCode, 200);
      assert.match(md.headers['content-type'] as string, /^text\/markdown/);
      assert.match(md.body, /^# Fixity audit report/);
      const page = await get('/api/v1/audit/report?format=html&stage=staging');
      assert.equal(page.statusCode, 200);
      assert.match(page.headers['content-type'] as string, /^text\/html/);
      assert.match(page.headers['content-security-policy'] as string, /default-src 'none'/);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.match(page.body, /✔ All \d+ rows verified/);
    });

    test('GET /audit/report refuses bad parameters with a message saying what to give', async () => {
      for (const [query, message] of [
        ['since=yesterday', /since "yesterday" is neither an RFC 3339 time nor a duration/],
        ['since=1d&until=3d', /since is after until/],
        ['format=pdf', /format must be one of json, md, html/],
        ['limit=0', /limit must be 1 to/],
        ['stage=a&stage=b', /give stage once/],
      ] as const) {
        const res = await get(`/api/v1/audit/report?${query}`);
        assert.equal(res.statusCode, 400, query);
        assert.match(JSON.parse(res.body).error.message, message);
      }
    });
  });
}
