import { sql } from 'kysely';
import { canonicalJSON } from '../core/index.ts';
import type { Dialect, Executor } from './database.ts';

/** One state change, as the ledger will hash it. */
export interface EventInput {
  kind: string;
  actor: string;
  at: string;
  repo?: string | null;
  digest?: string | null;
  tag?: string | null;
  previous?: string | null;
  detail?: Record<string, unknown>;
}

export interface EventRecord extends Required<Omit<EventInput, 'detail'>> {
  seq: number;
  body: string;
}

// Arbitrary but fixed: the key of the PostgreSQL advisory lock that orders event appends.
const EVENT_LOCK = 7070_0001;

/**
 * Appends an event inside the caller's transaction. On PostgreSQL a transaction-scoped advisory lock makes
 * `seq` commit in order, so a reader that saw seq N never later finds a committed N-1.
 */
export async function appendEvent(trx: Executor, dialect: Dialect, event: EventInput): Promise<void> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${EVENT_LOCK})`.execute(trx);
  const row = {
    at: event.at,
    kind: event.kind,
    actor: event.actor,
    repo: event.repo ?? null,
    digest: event.digest ?? null,
    tag: event.tag ?? null,
    previous: event.previous ?? null,
  };
  await trx
    .insertInto('events')
    .values({
      ...row,
      body: canonicalJSON({ ...row, ...(event.detail === undefined ? {} : { detail: event.detail }) }),
    })
    .execute();
}

/** Events after `after` in sequence order. */
export async function listEvents(
  db: Executor,
  options: { after?: number; limit?: number } = {},
): Promise<EventRecord[]> {
  const { after = 0, limit = 1000 } = options;
  return db.selectFrom('events').selectAll().where('seq', '>', after).orderBy('seq').limit(limit).execute();
}
