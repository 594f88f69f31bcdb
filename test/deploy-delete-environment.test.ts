// Deleting an environment in the deploy room, on both engines, with real instances of examples/hello on
// the local driver behind real routers: every instance stops and every router closes, the records go while
// the versions stay, the ledger records the deletion and each removal, a rollout in progress refuses the
// deletion unless forced (then it is aborted), and the name can be applied again from scratch.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DeployError } from '../src/deploy/index.ts';
import { type DeployRoom, helloEnvironment, openDeployRoom } from './deploy-room-kit.ts';
import { testDatabases } from './support/databases.ts';
import { refused } from './support/deploy-kit.ts';

type Entry = Record<string, unknown> & { event: string };

const CANARY = `    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: { untilApproved: true }
`;

const rejectsWith = (code: string, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof DeployError, String(err));
  assert.equal(err.code, code);
  assert.match(err.message, pattern);
  return true;
};

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`deleting an environment (${database.name})`, { timeout: 180_000 }, () => {
    let room: DeployRoom;
    let digest: string;
    const status = () => room.deploy.status('staging');
    const running = () =>
      room.driver.list().filter((i) => i.environment === 'staging' && ['starting', 'ready'].includes(i.state));
    const rows = async (table: 'deploy_services' | 'deploy_environments' | 'deploy_environment_deletions') =>
      (await room.kit.database.db.selectFrom(table).selectAll().execute()).length;
    /** The ledger's leaves under `digest`, oldest first. */
    async function ledgerFor(d: string): Promise<Entry[]> {
      await room.kit.release.log.flush();
      const out: Entry[] = [];
      for (const index of await room.kit.ledger.findByDigest(d)) {
        const entry = await room.kit.ledger.entry(index);
        if (entry !== null) out.push(JSON.parse(entry.body.toString('utf8')) as Entry);
      }
      return out;
    }
    // Applying wakes the reconciler, which records each new service's router; a deploy racing that pass can
    // hit the same new service row (a race of deploy and reconciler, not of deletion), so tests let it finish.
    const settle = () => room.deploy.reconciler.reconcile();
    /** Applies, deploys and reconciles until every service serves on ready instances. */
    async function serve(yaml: string) {
      const applied = await room.deploy.applyEnvironment(yaml, 'alice');
      await settle();
      await room.deploy.deploy({ environment: 'staging', actor: 'alice' });
      await room.until('every service serving', async () =>
        (await status()).services.every(
          (s) =>
            s.currentRelease !== null &&
            s.rollout?.status !== 'active' &&
            s.instances.every((i) => i.state === 'ready'),
        ),
      );
      return applied;
    }

    before(async () => {
      room = await openDeployRoom(database);
      digest = room.hello;
    });
    after(() => (room === undefined ? database.cleanup() : room.close()));

    test('deleteEnvironment() refuses an environment that was never applied', async () => {
      await assert.rejects(
        room.deploy.deleteEnvironment({ environment: 'staging', actor: 'alice' }),
        rejectsWith('ENV_UNKNOWN', /Cannot delete staging: no environment "staging"/),
      );
      assert.equal(await rows('deploy_environment_deletions'), 0);
    });

    test('deleteEnvironment() stops every instance, closes every router and forgets the records', async () => {
      const applied = await serve(helloEnvironment({ digest, services: ['hello', 'bye'], replicas: 2 }));
      const before = await status();
      const instances = running();
      assert.equal(instances.length, 4);
      const pids = instances.map((i) => i.pid).filter((p): p is number => p !== null);
      assert.equal(pids.length, 4);
      for (const s of before.services) {
        assert.equal(((await (await fetch(s.url as string)).json()) as { message: string }).message, s.service);
      }

      const deleted = await room.deploy.deleteEnvironment({ environment: 'staging', actor: 'alice' });
      assert.equal(deleted.complete, true);
      assert.deepEqual(deleted.remaining, []);
      assert.equal(deleted.version, applied.version);
      assert.equal(deleted.force, false);
      assert.deepEqual(deleted.abortedRollouts, []);
      assert.deepEqual(
        deleted.services.map((s) => [s.service, s.router, s.release, s.instances]),
        ['bye', 'hello'].map((name) => {
          const s = before.services.find((x) => x.service === name);
          return [name, s?.url, s?.currentRelease, (s?.instances ?? []).map((i) => i.id).sort()];
        }),
      );

      // Really gone: no process, no listening router, no environment, no service record.
      assert.deepEqual(running(), []);
      assert.deepEqual(
        pids.filter((pid) => existsSync(`/proc/${pid}`)),
        [],
      );
      for (const s of before.services) assert.equal(await refused(s.url as string), true, `${s.service} router`);
      await assert.rejects(status(), rejectsWith('ENV_UNKNOWN', /no environment "staging"/));
      await assert.rejects(
        room.deploy.deploy({ environment: 'staging', actor: 'alice' }),
        rejectsWith('ENV_UNKNOWN', /no environment "staging"/),
      );
      assert.deepEqual(await room.deploy.environments(), []);
      assert.equal(await rows('deploy_services'), 0);
      // The versions stay: the ledger's environment.applied leaves name them.
      assert.equal(await rows('deploy_environments'), 1);
      assert.equal(await rows('deploy_environment_deletions'), 1);
      await assert.rejects(
        room.deploy.deleteEnvironment({ environment: 'staging', actor: 'alice' }),
        rejectsWith('ENV_UNKNOWN', /Cannot delete staging: no environment/),
      );

      const history = await ledgerFor(applied.digest);
      assert.deepEqual(
        history.map((e) => e.event),
        ['environment.applied', 'environment.deleted', 'deploy.service.removed', 'deploy.service.removed'],
      );
      assert.deepEqual(
        { ...history[1], time: undefined },
        {
          event: 'environment.deleted',
          actor: 'alice',
          time: undefined,
          digests: [applied.digest],
          environment: 'staging',
          stage: 'staging',
          version: applied.version,
          force: false,
          services: ['bye', 'hello'],
          rollouts: [],
        },
      );
      assert.deepEqual(
        history
          .slice(2)
          .map((e) => [e.service, e.envVersion])
          .sort(),
        [
          ['bye', applied.version],
          ['hello', applied.version],
        ],
      );
      const stopped = [];
      for (const s of before.services)
        stopped.push(
          ...(await ledgerFor(s.currentRelease as string)).filter((e) => e.event === 'deploy.instance.stopped'),
        );
      assert.deepEqual(stopped.map((e) => e.instance).sort(), instances.map((i) => i.id).sort());
      for (const e of stopped) assert.match(String(e.detail), /: environment deleted$/);
    });

    test('the name can be applied again from scratch: a new version, no releases, rollouts or instances', async () => {
      const again = await room.deploy.applyEnvironment(
        helloEnvironment({ digest, services: ['hello', 'bye'], replicas: 2 }),
        'bob',
      );
      assert.equal(again.changed, true, 'the same spec as the deleted version is a change');
      assert.equal(again.version, 2, 'version numbers go on after the deletion');
      await settle();
      const fresh = await status();
      for (const s of fresh.services) {
        assert.equal(s.currentRelease, null);
        assert.equal(s.rollout, null, 'the deleted incarnation’s rollouts do not show');
        assert.deepEqual(
          s.instances.filter((i) => i.state !== 'stopped'),
          [],
        );
      }
      const outcomes = await room.deploy.deploy({ environment: 'staging', actor: 'bob' });
      assert.deepEqual(
        outcomes.map((o) => o.result),
        ['started', 'started'],
      );
      await room.until('serving again', async () =>
        (await status()).services.every(
          (s) => s.currentRelease !== null && s.instances.some((i) => i.state === 'ready'),
        ),
      );
      assert.deepEqual(
        (await room.deploy.environments()).map((e) => [e.name, e.version]),
        [['staging', 2]],
      );
    });

    test('a rollout in progress refuses the deletion; force aborts it and removes both releases', async () => {
      const yaml = helloEnvironment({ digest, services: ['hello'], replicas: 2 }).replace(
        'GREETING: "hello"',
        'GREETING: "v2"',
      );
      await room.deploy.applyEnvironment(`${yaml}${CANARY}`, 'bob');
      await room.until('bye removed', async () => (await status()).services.length === 1 && running().length === 2);
      const [outcome] = await room.deploy.deploy({ environment: 'staging', actor: 'bob' });
      assert.equal(outcome?.result, 'started');
      const rollout = outcome?.rollout as string;
      let target = '';
      await room.until('the canary paused for approval', async () => {
        const [hello] = (await status()).services;
        target = hello?.rollout?.target ?? '';
        return (
          hello?.rollout?.phase === 'paused' &&
          hello.instances.some((i) => i.release === target && i.state === 'ready') &&
          hello.instances.some((i) => i.release === hello.currentRelease && i.state === 'ready')
        );
      });
      const instances = running();

      await assert.rejects(
        room.deploy.deleteEnvironment({ environment: 'staging', actor: 'bob' }),
        rejectsWith('ROLLOUT_IN_PROGRESS', new RegExp(`rollout ${rollout} of hello is in progress`)),
      );
      assert.equal((await status()).services[0]?.rollout?.status, 'active', 'nothing was touched');
      assert.equal(running().length, instances.length);
      assert.equal(await rows('deploy_environment_deletions'), 1);

      const deleted = await room.deploy.deleteEnvironment({ environment: 'staging', actor: 'bob', force: true });
      assert.equal(deleted.complete, true);
      assert.equal(deleted.force, true);
      assert.deepEqual(deleted.abortedRollouts, [rollout]);
      assert.deepEqual(
        deleted.services.map((s) => [s.service, s.instances]),
        [['hello', instances.map((i) => i.id).sort()]],
      );
      assert.deepEqual(running(), []);
      const stored = await room.kit.database.db
        .selectFrom('deploy_rollouts')
        .select('status')
        .where('id', '=', rollout)
        .executeTakeFirstOrThrow();
      assert.equal(stored.status, 'aborted');
      const events = await ledgerFor(deleted.digest);
      const entry = events.find((e) => e.event === 'environment.deleted');
      assert.equal(entry?.force, true);
      assert.deepEqual(entry?.rollouts, [rollout]);
      const aborted = (await ledgerFor(target)).filter((e) => e.event === 'deploy.rollout.aborted');
      assert.deepEqual(
        aborted.map((e) => [e.rollout, e.detail]),
        [[rollout, 'environment deleted']],
      );
    });

    test('applying a deleted name again waits until its services are removed, then starts from scratch', async () => {
      const yaml = helloEnvironment({ digest, services: ['hello', 'bye'] });
      const applied = await room.deploy.applyEnvironment(yaml, 'bob');
      await settle(); // records both services with their routers
      assert.equal(await rows('deploy_services'), 2);
      // What deleteEnvironment's transaction commits, before any reconcile pass has removed a service.
      await room.kit.database.db
        .insertInto('deploy_environment_deletions')
        .values({
          name: 'staging',
          version: applied.version,
          digest: applied.digest,
          deleted_by: 'bob',
          deleted_at: new Date().toISOString(),
          log_id: 0,
        })
        .execute();
      await assert.rejects(
        room.deploy.applyEnvironment(yaml, 'carol'),
        rejectsWith('ENV_DELETING', /Cannot apply staging: its deletion is still removing bye, hello/),
      );
      await settle(); // the removal the deletion started
      assert.equal(await rows('deploy_services'), 0);
      const again = await room.deploy.applyEnvironment(yaml, 'carol');
      assert.equal(again.version, applied.version + 1);
    });
  });
}
