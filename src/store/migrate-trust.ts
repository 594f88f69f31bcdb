import type { Kysely } from 'kysely';
import { appendOnly } from './append-only.ts';
import type { Dialect } from './database.ts';

/** Migration 0002: the trust store (public keys by role, validity windows, revocations as events). */
export async function migrateTrust(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('trust_keys')
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('public_key_pem', 'text', (c) => c.notNull())
    .addColumn('valid_from', 'text', (c) => c.notNull())
    .addColumn('valid_until', 'text')
    .addColumn('registered_by', 'text', (c) => c.notNull())
    .addColumn('registered_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('trust_keys_pk', ['key_id', 'role'])
    .execute();
  await db.schema.createIndex('trust_keys_role').on('trust_keys').column('role').execute();
  // A key row is never changed or deleted: revoking one is an event in trust_revocations.
  await appendOnly(db, dialect, 'trust_keys');
  await db.schema
    .createTable('trust_revocations')
    .addColumn('key_id', 'text', (c) => c.primaryKey())
    .addColumn('revoked_at', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('revoked_by', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'text', (c) => c.notNull())
    .execute();
  await appendOnly(db, dialect, 'trust_revocations');
}
