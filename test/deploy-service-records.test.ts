// A service's record has two writers that can meet on a new service: a deploy (releases, rollout) and the
// reconciler opening the service's router (its port). On both engines, from two connections at once, neither
// fails on the key and neither overwrites what the other wrote.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deployRecords } from '../src/deploy/deploy-records.ts';
import type { StoreDatabase } from '../src/store/index.ts';
import { testDatabases } from './support/databases.ts';

const NOW = '2026-12-06T12:00:00.000Z';
const SERVICES = 24;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`deploy service records (${database.name})`, () => {
    let store: StoreDatabase;
    let second: StoreDatabase;
    before(async () => {
      store = await database.open();
      // PostgreSQL: the reconciler of another server. SQLite has one server, whose deploys and reconciler share
      // its connection (a second one would block this process on the first one's open transaction).
      second = database.name === 'postgres' ? await database.open() : store;
    });
    after(async () => {
      if (second !== store) await second?.close();
      await store?.close();
      await database.cleanup();
    });

    test('a deploy and a router opening on a new service both land, whichever writes first', async () => {
      const services = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
      const results = await Promise.allSettled(
        services.flatMap((service, i) => [
          store.db.transaction().execute((trx) =>
            deployRecords.upsertService(
              trx,
              {
                environment: 'race',
                service,
                currentRelease: null,
                previousRelease: null,
                rolloutId: `rollout-${i}`,
                routerPort: null,
              },
              NOW,
            ),
          ),
          deployRecords.setRouterPort(second.db, 'race', service, 20_000 + i, NOW),
        ]),
      );
      assert.deepEqual(
        results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
        [],
      );
      for (const [i, service] of services.entries()) {
        const row = await deployRecords.service(store.db, 'race', service);
        assert.equal(row?.rolloutId, `rollout-${i}`, `${service}: the deploy's rollout stands`);
        assert.equal(row?.routerPort, 20_000 + i, `${service}: the router's port stands`);
      }
    });

    test('two deploys racing on a new service: one row, the last write wins whole', async () => {
      const results = await Promise.allSettled(
        ['a', 'b'].map((which, i) =>
          (i === 0 ? store : second).db.transaction().execute((trx) =>
            deployRecords.upsertService(
              trx,
              {
                environment: 'race2',
                service: 'web',
                currentRelease: `sha256:${which.repeat(64)}`,
                previousRelease: null,
                rolloutId: `rollout-${which}`,
                routerPort: 30_000,
              },
              NOW,
            ),
          ),
        ),
      );
      assert.deepEqual(
        results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
        [],
      );
      const row = await deployRecords.service(store.db, 'race2', 'web');
      assert.ok(row !== null);
      assert.equal(row.rolloutId, `rollout-${row.currentRelease?.slice(7, 8)}`, 'release and rollout from one write');
      assert.equal(row.routerPort, 30_000);
    });
  });
}
