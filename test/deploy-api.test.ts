// DELETE /api/v1/environments/:env on both engines, through the real app (Fastify inject) over the deploy
// room with real instances: a token is required and must allow `pipeline.apply` on the stage (as applying
// does), an unknown environment is 404, a rollout in progress is 409 unless ?force=true, and the answer
// says what was removed. GET /api/v1/rollouts/:id shows a rollout by the id deploy answered with.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createAccess } from '../src/access/index.ts';
import { createApp } from '../src/server/index.ts';
import { createTokenRecords } from '../src/store/index.ts';
import { type DeployRoom, helloEnvironment, openDeployRoom } from './deploy-room-kit.ts';
import { testDatabases } from './support/databases.ts';

// Readiness asks `/`, which FAIL_RATE=1 answers with a 500: instances never get ready, so the rollout stays.
const NEVER_READY = (yaml: string) =>
  yaml.replace('GREETING: "hello"', 'GREETING: "hello", FAIL_RATE: "1"').replace('path: /healthz', 'path: /');

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`DELETE /api/v1/environments/:env (${database.name})`, { timeout: 120_000 }, () => {
    let room: DeployRoom;
    let app: FastifyInstance;
    const tokens: Record<'admin' | 'viewer' | 'releaser', string> = { admin: '', viewer: '', releaser: '' };
    const auth = (secret: string) => ({ authorization: `Basic ${Buffer.from(`t:${secret}`).toString('base64')}` });
    const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, secret?: string, payload?: object) => {
      const res = await app.inject({
        method,
        url: `/api/v1${url}`,
        headers: secret === undefined ? {} : auth(secret),
        ...(payload === undefined ? {} : { payload }),
      });
      return {
        status: res.statusCode,
        body: res.json() as Record<string, unknown> & { error?: { code: string; message: string } },
      };
    };
    const running = () =>
      room.driver.list().filter((i) => i.environment === 'staging' && ['starting', 'ready'].includes(i.state));

    before(async () => {
      room = await openDeployRoom(database);
      const { kit } = room;
      const access = createAccess({
        records: createTokenRecords(kit.database),
        clock: kit.clock,
        signingKey: Buffer.alloc(32, 7),
        anonymousPull: [],
      });
      app = await createApp({
        store: kit.database,
        metadata: kit.metadata,
        blobs: kit.blobs,
        access,
        clock: kit.clock,
        logger: pino({ level: 'silent' }),
        version: 'test',
        maxManifestBytes: 4 * 1024 * 1024,
        gc: { graceMs: 3600_000, uploadExpiryMs: 86_400_000 },
        ledger: kit.ledger,
        ledgerSigner: kit.ledgerSigner,
        ledgerOrigin: 'fixity.test/ledger',
        ledgerPublicKeyPem: kit.ledgerSigner.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        trust: kit.trust,
        release: kit.release,
        deploy: room.deploy,
      });
      await app.ready();
      const make = async (name: string, scopes: Array<'admin' | 'pull' | 'release'>) =>
        (await access.createToken({ name, scopes, repos: ['**'] }, 'test')).secret;
      tokens.admin = await make('admin', ['admin']);
      tokens.viewer = await make('viewer', ['pull']);
      tokens.releaser = await make('releaser', ['release']);
    });
    after(async () => {
      await app?.close();
      await (room === undefined ? database.cleanup() : room.close());
    });

    test('an unknown environment is 404 NOT_FOUND; a bad force is 400', async () => {
      const missing = await call('DELETE', '/environments/nowhere', tokens.admin);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error?.code, 'NOT_FOUND');
      assert.match(missing.body.error?.message ?? '', /Cannot delete nowhere: no environment "nowhere"/);
      const bad = await call('DELETE', '/environments/nowhere?force=yes', tokens.admin);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error?.code, 'INVALID_REQUEST');
    });

    test('without a token 401 (even for an unknown name); without pipeline.apply 403; nothing is deleted', async () => {
      const yaml = helloEnvironment({ digest: room.hello, services: ['hello'] });
      assert.equal((await call('PUT', '/environments', tokens.admin, { yaml })).status, 200);
      for (const name of ['staging', 'nowhere']) {
        const anonymous = await call('DELETE', `/environments/${name}`);
        assert.equal(anonymous.status, 401, name);
        assert.equal(anonymous.body.error?.code, 'UNAUTHENTICATED');
      }
      const viewer = await call('DELETE', '/environments/staging', tokens.viewer);
      assert.equal(viewer.status, 403);
      assert.equal(viewer.body.error?.code, 'FORBIDDEN');
      assert.equal((await call('GET', '/environments/staging', tokens.viewer)).status, 200, 'still there');
    });

    test('a rollout in progress is 409 CONFLICT; ?force=true aborts it and says what it removed', async () => {
      const yaml = NEVER_READY(helloEnvironment({ digest: room.hello, services: ['hello'], replicas: 2 }));
      assert.equal((await call('PUT', '/environments', tokens.releaser, { yaml })).status, 200);
      // Applying wakes the reconciler, which records the new service's router; let it finish before deploying.
      await room.deploy.reconciler.reconcile();
      const deployed = await call('POST', '/environments/staging/deployments', tokens.releaser, {});
      assert.equal(deployed.status, 201);
      const rollout = (deployed.body.items as Array<{ rollout: string }>)[0]?.rollout;
      await room.until('two instances starting', () => running().length === 2);
      const byId = await call('GET', `/rollouts/${rollout}`, tokens.viewer);
      assert.equal(byId.status, 200);
      assert.deepEqual(
        [byId.body.kind, byId.body.id, byId.body.environment, byId.body.service, byId.body.status, byId.body.switched],
        ['Rollout', rollout, 'staging', 'hello', 'active', false],
      );
      assert.ok(Array.isArray(byId.body.steps));
      assert.equal((await call('GET', `/rollouts/${rollout}`)).status, 401);
      const unknown = await call('GET', '/rollouts/no-such-rollout', tokens.viewer);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error?.code, 'NOT_FOUND');
      const instances = running()
        .map((i) => i.id)
        .sort();

      const refused = await call('DELETE', '/environments/staging', tokens.releaser);
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error?.code, 'CONFLICT');
      assert.match(refused.body.error?.message ?? '', new RegExp(`rollout ${rollout} of hello is in progress`));
      assert.equal((await call('GET', '/environments/staging', tokens.viewer)).status, 200, 'still there');

      const deleted = await call('DELETE', '/environments/staging?force=true', tokens.releaser);
      assert.equal(deleted.status, 200);
      const { services, ...rest } = deleted.body as Record<string, unknown> & {
        services: Array<{ service: string; instances: string[] }>;
      };
      assert.equal(rest.kind, 'EnvironmentDeletion');
      assert.equal(rest.environment, 'staging');
      assert.match(String(rest.deletedBy), /^releaser\b/);
      assert.equal(rest.force, true);
      assert.equal(rest.complete, true);
      assert.deepEqual(rest.abortedRollouts, [rollout]);
      assert.equal((await call('GET', `/rollouts/${rollout}`, tokens.viewer)).body.status, 'aborted');
      assert.deepEqual(
        services.map((s) => [s.service, s.instances]),
        [['hello', instances]],
      );
      assert.deepEqual(running(), []);
      const gone = await call('GET', '/environments/staging', tokens.viewer);
      assert.equal(gone.status, 404);
      assert.equal((await call('DELETE', '/environments/staging', tokens.releaser)).status, 404, 'deleted once');
      const list = await call('GET', '/environments', tokens.viewer);
      assert.deepEqual(list.body.items, []);
    });

    test('with nothing in progress it is 200; the name can be applied again and deleted again', async () => {
      const yaml = helloEnvironment({ digest: room.hello, services: ['hello'] });
      const applied = await call('PUT', '/environments', tokens.releaser, { yaml });
      assert.equal(applied.status, 200);
      assert.equal(applied.body.changed, true);
      const deleted = await call('DELETE', '/environments/staging?force=false', tokens.releaser);
      assert.equal(deleted.status, 200);
      assert.equal(deleted.body.version, applied.body.version);
      assert.equal(deleted.body.force, false);
      assert.deepEqual(deleted.body.abortedRollouts, []);
      assert.equal((await call('GET', '/environments/staging', tokens.viewer)).status, 404);
    });
  });
}
