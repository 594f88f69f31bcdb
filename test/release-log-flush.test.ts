// The release outbox reaches the ledger exactly once per change: flushes that overlap in one server, and on
// PostgreSQL flushes of two servers sharing one database (its multi-server mode), append every queued leaf once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../src/core/index.ts';
import { createReleaseLog, type ReleaseLog } from '../src/release/release-log.ts';
import { type OpenLedger, openLedger } from './ledger-kit.ts';
import { testDatabases } from './support/databases.ts';

const clock = createManualClock(new Date('2026-12-06T10:00:00Z'));

async function enqueue(server: OpenLedger, log: ReleaseLog, n: number, tag: string): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    // The ledger indexes a leaf by the digests its body names.
    const digest = `sha256:${'0'.repeat(63)}${i % 10}`;
    ids.push(
      await server.store.db
        .transaction()
        .execute((trx) => log.enqueue(trx, { event: 'test.change', tag, i, digest }, [digest])),
    );
  }
  return ids;
}

const leafCount = async (server: OpenLedger): Promise<number> => {
  const row = await server.store.db
    .selectFrom('ledger_leaves')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
};

/** Every queued row landed once: distinct ledger indexes, and as many new leaves as rows. */
async function assertOnce(server: OpenLedger, log: ReleaseLog, ids: number[], leavesBefore: number): Promise<void> {
  const indexes = await Promise.all(ids.map((id) => log.indexOf(id)));
  assert.ok(
    indexes.every((i) => i !== null),
    'every row reached the ledger',
  );
  assert.equal(new Set(indexes).size, ids.length, 'no two rows share a ledger index');
  assert.equal((await leafCount(server)) - leavesBefore, ids.length, 'each row was appended once, not once per flush');
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`release outbox flush (${database.name})`, () => {
    const opened: OpenLedger[] = [];
    before(async () => {
      opened.push(await openLedger(database));
    });
    after(async () => {
      for (const o of opened.reverse()) await o.close();
      await database.cleanup();
    });

    test('overlapping flushes in one server append each queued change once', async () => {
      const server = opened[0]!;
      const log = createReleaseLog({ database: server.store, ledger: server.ledger, clock });
      const before = await leafCount(server);
      const ids = await enqueue(server, log, 40, 'one');
      await Promise.all(Array.from({ length: 5 }, () => log.flush()));
      await assertOnce(server, log, ids, before);
    });

    test('a flush cut short between its append and its record appends nothing twice after a restart', async () => {
      const server = opened[0]!;
      const before = await leafCount(server);
      const crashed = createReleaseLog({ database: server.store, ledger: server.ledger, clock });
      const ids = await enqueue(server, crashed, 4, 'crash');
      // The crashed process appended the first three queued leaves, then died before recording where.
      const rows = await server.store.db
        .selectFrom('release_log')
        .select(['leaf', 'digests'])
        .where('id', 'in', ids.slice(0, 3))
        .orderBy('id')
        .execute();
      await server.ledger.append(
        rows.map((r) => ({ body: Buffer.from(r.leaf, 'utf8'), digests: JSON.parse(r.digests) as string[] })),
      );
      const restarted = createReleaseLog({ database: server.store, ledger: server.ledger, clock });
      await restarted.flush();
      await assertOnce(server, restarted, ids, before);
    });

    test('two servers on one database flushing at once append each queued change once', {
      skip: database.name === 'sqlite' ? 'SQLite serves one server (PostgreSQL is the multi-server mode)' : false,
    }, async () => {
      const a = opened[0]!;
      const b = await a.reopen();
      opened.push(b);
      const logA = createReleaseLog({ database: a.store, ledger: a.ledger, clock });
      const logB = createReleaseLog({ database: b.store, ledger: b.ledger, clock });
      const before = await leafCount(a);
      const ids: number[] = [];
      for (let round = 0; round < 8; round++) {
        ids.push(...(await enqueue(a, logA, 5, `a${round}`)), ...(await enqueue(b, logB, 5, `b${round}`)));
        // Both servers see every queued row: without a lock both would append the lot.
        await Promise.all([logA.flush(), logB.flush(), logA.flush(), logB.flush()]);
      }
      await assertOnce(a, logA, ids, before);
    });
  });
}
