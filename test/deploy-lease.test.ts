// One reconciler at a time: the store lease on both engines. Two holders on one database never hold it
// together; an expired lease is taken over; a released one is free at once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../src/core/index.ts';
import { createLease } from '../src/deploy/lease.ts';
import type { StoreDatabase } from '../src/store/index.ts';
import { testDatabases } from './support/databases.ts';

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`reconciler lease (${database.name})`, () => {
    let store: StoreDatabase;
    let second: StoreDatabase;
    before(async () => {
      store = await database.open();
      second = await database.open(); // a second server on the same database
    });
    after(async () => {
      await second?.close();
      await store?.close();
      await database.cleanup();
    });

    test('one holder at a time; renewal keeps it; expiry hands it over; release frees it', async () => {
      const clock = createManualClock(new Date('2026-12-06T10:00:00Z'));
      const a = createLease({ db: store.db, clock, name: 'r', holder: 'server-a', ttlMs: 10_000 });
      const b = createLease({ db: second.db, clock, name: 'r', holder: 'server-b', ttlMs: 10_000 });
      assert.equal(await a.acquire(), true);
      assert.equal(await b.acquire(), false);
      clock.advance(9_000);
      assert.equal(await a.acquire(), true, 'the holder renews');
      clock.advance(9_000);
      assert.equal(await b.acquire(), false, 'renewed 9 s ago: still held');
      clock.advance(2_000);
      assert.equal(await b.acquire(), true, 'expired: taken over');
      assert.equal(await a.acquire(), false, 'the old holder lost it');
      await b.release();
      assert.equal(await a.acquire(), true, 'released: free at once');
    });

    test('racing holders: exactly one wins each round', async () => {
      const clock = createManualClock(new Date('2026-12-06T11:00:00Z'));
      const holders = Array.from({ length: 6 }, (_, i) =>
        createLease({ db: i % 2 === 0 ? store.db : second.db, clock, name: 'race', holder: `h${i}`, ttlMs: 5_000 }),
      );
      for (let round = 0; round < 5; round++) {
        const won = await Promise.all(holders.map((h) => h.acquire()));
        assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${JSON.stringify(won)}`);
        clock.advance(6_000);
      }
    });
  });
}
