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
  // Until a flush has gone through in this process (and after one failed), queued rows may already be in the
  // ledger: appended by a flush that crashed or failed before recording where.
  let suspect = true;

  /**
   * Appends one batch of queued leaves and records where they landed. Two servers on one PostgreSQL would both
   * read the same queued rows and append them twice, so there the batch runs in a transaction holding a lock:
   * the second server reads the queue only once the first has recorded its batch. (SQLite serves one server,
   * whose flushes already run one after another.) While `suspect`, a row whose leaf is already in the ledger is
   * recorded there instead of appended again.
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
    const found = suspect ? await alreadyInLedger(ex, rows) : new Map<number, number>();
    const missing = rows.filter((r) => !found.has(Number(r.id)));
    const done =
      missing.length === 0
        ? []
        : await deps.ledger.append(
            missing.map((r) => ({ body: Buffer.from(r.leaf, 'utf8'), digests: JSON.parse(r.digests) as string[] })),
          );
    const appendedAt = new Map(missing.map((r, i) => [Number(r.id), done[i]!.index]));
    await ex
      .insertInto('release_logged')
      .values(rows.map((r) => ({ id: r.id, ledger_index: found.get(Number(r.id)) ?? appendedAt.get(Number(r.id))! })))
      .execute();
    return rows.length;
  }

  /**
   * Queued rows whose exact leaf the ledger already holds past every recorded index (flushes run one at a time
   * and record before the next starts, so a leaf appended without its record lies there), found through the
   * ledger's digest index; each ledger leaf answers for one row only.
   */
  async function alreadyInLedger(
    ex: Executor,
    rows: ReadonlyArray<{ id: number | string; leaf: string; digests: string }>,
  ): Promise<Map<number, number>> {
    const found = new Map<number, number>();
    const last = await ex
      .selectFrom('release_logged')
      .select((eb) => eb.fn.max('ledger_index').as('max'))
      .executeTakeFirst();
    const recorded = last?.max === null || last?.max === undefined ? -1 : Number(last.max);
    const taken = new Set<number>();
    for (const row of rows) {
      const [digest] = JSON.parse(row.digests) as string[];
      if (digest === undefined) continue;
      const body = Buffer.from(row.leaf, 'utf8');
      for (const index of await deps.ledger.findByDigest(digest)) {
        if (index <= recorded || taken.has(index)) continue;
        if ((await deps.ledger.entry(index))?.body.equals(body)) {
          found.set(Number(row.id), index);
          taken.add(index);
          break;
        }
      }
    }
    return found;
  }

  async function flushOnce(): Promise<number> {
    let appended = 0;
    try {
      for (;;) {
        const n = dialect === 'postgres' ? await db.transaction().execute(flushBatch) : await flushBatch(db);
        if (n === 0) break;
        await deps.database.durable();
        appended += n;
      }
    } catch (err) {
      suspect = true;
      throw err;
    }
    suspect = false;
    return appended;
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
