import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { createCoalescedSync } from './group-commit.ts';
import { migrateToLatest } from './migrations.ts';
import type { Database } from './schema.ts';
import { StoreError } from './store-error.ts';

export type Dialect = 'sqlite' | 'postgres';

/** An open database: the Kysely handle every repository takes, and which engine sits behind it. */
export interface StoreDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /**
   * Resolves once every transaction committed before the call is on stable storage. PostgreSQL commits
   * are durable already; SQLite's WAL is fsync'd here, off the event loop, shared by concurrent callers.
   */
  durable(): Promise<void>;
  close(): Promise<void>;
}

export type Executor = Kysely<Database> | Transaction<Database>;

export interface OpenDatabaseOptions {
  /** `postgres://…` / `postgresql://…`, or a SQLite file path (`:memory:` for tests). */
  url: string;
  /** PostgreSQL schema to use (created when missing); lets test runs and tenants share one database. */
  schema?: string;
  /** Skip migrations (for read-only tools); default false. */
  skipMigrations?: boolean;
}

/** Opens SQLite (WAL, synchronous=FULL, foreign keys) or PostgreSQL, and migrates it to the latest schema. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<StoreDatabase> {
  const { url, schema, skipMigrations = false } = options;
  const store = /^postgres(ql)?:\/\//.test(url) ? await openPostgres(url, schema) : openSqlite(url);
  if (!skipMigrations) {
    let result = await migrateToLatest(store.db as Kysely<unknown>, store.dialect);
    // Kysely's migrator introspects every schema on the server; one that another tenant (or test run)
    // drops at that moment fails the introspection with 3F000. That schema is not ours: try again.
    for (let attempt = 0; attempt < 5 && isOtherSchemaGone(result.error, schema); attempt++) {
      result = await migrateToLatest(store.db as Kysely<unknown>, store.dialect);
    }
    if (result.error !== undefined) {
      await store.close();
      throw new StoreError(
        'MIGRATION_FAILED',
        `Cannot migrate the ${store.dialect} database: ${String(result.error)}`,
        {
          cause: result.error,
          detail: result.results,
        },
      );
    }
  }
  return store;
}

function openSqlite(path: string): StoreDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const native = new DatabaseSync(path);
  // NORMAL, and durability from durable(): with FULL every COMMIT fsyncs the WAL synchronously on the
  // event loop (node:sqlite is synchronous), which halved small-push throughput when measured (114 vs
  // 232 pushes/s at concurrency 8). NORMAL commits write the WAL without fsync; durable() then fsyncs the
  // WAL from the thread pool, coalesced, before anything is acknowledged. A checkpoint fsyncs the WAL
  // before and the database after, so a commit is always in one of two fsync'd files.
  native.exec(
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;',
  );
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: toKyselySqlite(native) }) });
  const durable =
    path === ':memory:' ? async () => undefined : createCoalescedSync(() => syncFile(`${path}-wal`, path));
  return { db, dialect: 'sqlite', durable, close: () => db.destroy() };
}

const STATEMENT_CACHE_LIMIT = 256;

// Kysely's SqliteDialect speaks better-sqlite3's shape; node:sqlite differs only in how a statement
// says whether it returns rows, and in taking parameters spread.
function toKyselySqlite(native: DatabaseSync) {
  const cache = new Map<string, ReturnType<DatabaseSync['prepare']>>();
  const prepare = (text: string) => {
    let st = cache.get(text);
    if (st === undefined) {
      st = native.prepare(text);
      if (cache.size >= STATEMENT_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      cache.set(text, st);
    }
    return st;
  };
  type Param = import('node:sqlite').SQLInputValue;
  return {
    close: () => native.close(),
    prepare(text: string) {
      const st = prepare(text);
      return {
        reader: st.columns().length > 0,
        all: (params: readonly unknown[]) => st.all(...(params as Param[])),
        run: (params: readonly unknown[]) => st.run(...(params as Param[])),
        iterate: (params: readonly unknown[]) => st.iterate(...(params as Param[])),
      };
    },
  };
}

async function openPostgres(url: string, schema: string | undefined): Promise<StoreDatabase> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StoreError(
      'CONFIG_INVALID',
      `Cannot use PostgreSQL schema "${schema}": use lowercase letters, digits and _`,
    );
  }
  if (schema !== undefined) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    // bigint columns (sizes, sequence numbers) stay below 2^53 here; numbers keep both engines alike.
    types: {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format),
    },
  } as pg.PoolConfig);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db).catch(async (err: unknown) => {
    await db.destroy();
    throw new StoreError('UNAVAILABLE', `Cannot connect to PostgreSQL at ${redactUrl(url)}: ${String(err)}`, {
      cause: err,
    });
  });
  return { db, dialect: 'postgres', durable: async () => undefined, close: () => db.destroy() };
}

/** A connection string with its password replaced, safe to log. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

function isOtherSchemaGone(err: unknown, ours: string | undefined): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (e?.code !== '3F000' || typeof e.message !== 'string') return false;
  return ours === undefined || !e.message.includes(`"${ours}"`);
}

// fsync through a fresh descriptor flushes the file's dirty pages whoever wrote them; a missing WAL (none
// written yet, or reset) means the database file holds everything.
async function syncFile(path: string, fallback: string): Promise<void> {
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return open(fallback, 'r');
    throw err;
  });
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
