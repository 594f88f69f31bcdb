// What the registry metadata modules share: the database, the clock, the tag-protection rule and the helpers
// built on them, so that blobs, manifests and listings agree on timestamps, durability and tag order.
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Clock } from '../core/index.ts';
import type { Dialect, Executor, StoreDatabase } from './database.ts';
import type { Database } from './schema.ts';

/** Decides whether a tag in a repository may never move once set. */
export type TagProtection = (repo: string, tag: string) => boolean;

export interface RegistryContext {
  db: Kysely<Database>;
  dialect: Dialect;
  isImmutable: TagProtection;
  /** The clock's current time as an ISO string, as every row and event stores it. */
  now: () => string;
  /** A column compared and sorted bytewise. */
  bytewise: (column: string) => RawBuilder<string>;
  /** Runs `fn` in a transaction and answers only once the commit is durable. */
  transaction: <T>(fn: (trx: Executor) => Promise<T>) => Promise<T>;
}

export function createRegistryContext(
  store: StoreDatabase,
  options: { clock: Clock; isImmutable: TagProtection },
): RegistryContext {
  const { db, dialect } = store;
  const { clock, isImmutable } = options;
  const now = () => clock.now().toISOString();
  // Tag order is bytewise everywhere (the spec's "lexical"); PostgreSQL's default collation is not.
  const bytewise = (column: string) =>
    dialect === 'postgres' ? sql<string>`${sql.ref(column)} collate "C"` : sql<string>`${sql.ref(column)}`;
  // Every write is made durable before it is acknowledged (see StoreDatabase.durable).
  const transaction = async <T>(fn: (trx: Executor) => Promise<T>): Promise<T> => {
    const result = await db.transaction().execute(fn);
    await store.durable();
    return result;
  };
  return { db, dialect, isImmutable, now, bytewise, transaction };
}
