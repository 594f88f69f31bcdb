import { sql } from 'kysely';
import { type Clock, canonicalJSON } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Executor, StoreDatabase } from '../store/index.ts';

/** How a change reached the ledger: its index, or null while it waits (with why the last try failed). */
export interface Logged {
  readonly logIndex: number | null;
  readonly pending?: string;
}

const BATCH = 500;
/** The PostgreSQL advisory lock (transaction-scoped) that lets one server at a time move the outbox. */
const FLUSH_LOCK = 7070_0007;

/**
 * The release room's outbox. A leaf is written in the same transaction as the change it records, then
 * appended to the ledger; a change whose append failed (or was cut short by a crash) goes in at the next
 * flush. So every committed change reaches the ledger, and nothing reaches it that was not committed.
 */
export function createReleaseLog(deps: { database: StoreDatabase; ledger: Ledger; clock: Clock }) {
  const { db, dialect } = deps.database;
  let tail: Promise<unknown> = Promise.resolve();

  /**
   * Appends one batch of queued leaves and records where they landed. Two servers on one PostgreSQL would both
   * read the same queued rows and append them twice, so there the batch runs in a transaction holding a lock:
   * the second server reads the queue only once the first has recorded its batch. (SQLite serves one server,
   * whose flushes already run one after another.) A crash between the append and the record still appends
   * that batch again at the next flush.
   */
  async function flushBatch(ex: Executor): Promise<number> {
    if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${FLUSH_LOCK})`.execute(ex);
    const rows = await ex
      .selectFrom('release_log as l')
      .leftJoin('release_logged as d', 'd.id', 'l.id')
      .select(['l.id', 'l.leaf', 'l.digests'])
      .where('d.id', 'is', null)
      .orderBy('l.id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) return 0;
    const done = await deps.ledger.append(
      rows.map((r) => ({ body: Buffer.from(r.leaf, 'utf8'), digests: JSON.parse(r.digests) as string[] })),
    );
    await ex
      .insertInto('release_logged')
      .values(rows.map((r, i) => ({ id: r.id, ledger_index: done[i]!.index })))
      .execute();
    return rows.length;
  }

  async function flushOnce(): Promise<number> {
    let appended = 0;
    for (;;) {
      const n = dialect === 'postgres' ? await db.transaction().execute(flushBatch) : await flushBatch(db);
      if (n === 0) return appended;
      await deps.database.durable();
      appended += n;
    }
  }

  const log = {
    /** Queues `leaf` inside the caller's transaction; returns its outbox id. */
    async enqueue(trx: Executor, leaf: object, digests: readonly string[]): Promise<number> {
      const row = await trx
        .insertInto('release_log')
        .values({
          leaf: canonicalJSON(leaf),
          digests: JSON.stringify(digests),
          created_at: deps.clock.now().toISOString(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    },

    /** Appends every queued leaf not yet in the ledger; flushes run one after another in this process. */
    flush(): Promise<number> {
      const run = tail.then(flushOnce, flushOnce);
      tail = run.catch(() => undefined);
      return run;
    },

    /** The ledger index of an outbox row, or null while it waits. */
    async indexOf(id: number): Promise<number | null> {
      const row = await db.selectFrom('release_logged').select('ledger_index').where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : Number(row.ledger_index);
    },

    /** Flushes, then reports where the row `id` landed; a failed append is reported, not thrown. */
    async settle(id: number): Promise<Logged> {
      try {
        await log.flush();
      } catch (err) {
        return { logIndex: await log.indexOf(id), pending: (err as Error).message };
      }
      return { logIndex: await log.indexOf(id) };
    },

    /** Takes a transaction-scoped lock on `key` (PostgreSQL; SQLite transactions are serial already). */
    async lock(trx: Executor, key: string): Promise<void> {
      if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 7070))`.execute(trx);
    },
  };
  return log;
}

export type ReleaseLog = ReturnType<typeof createReleaseLog>;
