// Every suite that touches storage runs once per engine: SQLite in a temp file and PostgreSQL in a schema
// of its own, dropped afterwards. Under CI=true a missing PostgreSQL fails the run instead of skipping.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase, type StoreDatabase } from '../../src/store/index.ts';

export const POSTGRES_URL = process.env.FIXITY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly name: 'sqlite' | 'postgres';
  /** The URL/path and schema to hand to openDatabase (or to `fixity serve --db`). */
  readonly url: string;
  readonly schema?: string;
  open(): Promise<StoreDatabase>;
  /** Drops the schema or removes the file. */
  cleanup(): Promise<void>;
}

let postgresReachable: Promise<boolean> | undefined;

async function canReachPostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** The engines to run against: SQLite always; PostgreSQL when reachable, and always under CI=true. */
export async function testDatabases(): Promise<Array<() => Promise<TestDatabase>>> {
  postgresReachable ??= canReachPostgres();
  const reachable = await postgresReachable;
  if (!reachable && process.env.CI === 'true') {
    throw new Error(`Cannot run the PostgreSQL suites: nothing answers at ${POSTGRES_URL} (CI=true forbids skipping)`);
  }
  return reachable ? [sqliteDatabase, postgresDatabase] : [sqliteDatabase];
}

export async function sqliteDatabase(): Promise<TestDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-db-'));
  const url = join(dir, 'fixity.db');
  return {
    name: 'sqlite',
    url,
    open: () => openDatabase({ url }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

// Test processes share one PostgreSQL. Kysely's migrator introspects every schema (has_schema_privilege,
// pg_get_serial_sequence by name), so a schema another process drops mid-query fails a migration with
// "schema does not exist". Opening takes this advisory lock shared and dropping takes it exclusive.
const SCHEMA_LOCK = 7070_0002;

async function withSchemaLock<T>(mode: 'shared' | 'exclusive', fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`select pg_advisory_lock${mode === 'shared' ? '_shared' : ''}($1)`, [SCHEMA_LOCK]);
    return await fn(client);
  } finally {
    // Ending the session releases the lock.
    await client.end();
  }
}

export async function postgresDatabase(): Promise<TestDatabase> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    name: 'postgres',
    url: POSTGRES_URL,
    schema,
    open: () => withSchemaLock('shared', () => openDatabase({ url: POSTGRES_URL, schema })),
    cleanup: () =>
      withSchemaLock('exclusive', async (client) => {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      }),
  };
}
