import type { Kysely } from 'kysely';
import { appendOnly } from './append-only.ts';
import type { Dialect } from './database.ts';

/** Migration 0004: pipelines, promotions and their VSAs, approvals, vetoes, holds, and the ledger outbox. */
export async function migrateRelease(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const pg = dialect === 'postgres';
  const big = pg ? 'bigint' : 'integer';
  await db.schema
    .createTable('release_log')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('leaf', 'text', (c) => c.notNull())
    .addColumn('digests', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('release_logged')
    .addColumn('id', big, (c) => c.primaryKey().references('release_log.id'))
    .addColumn('ledger_index', big, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('release_pipelines')
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('yaml', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('applied_by', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .addColumn('log_id', big, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('release_promotions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('stage_seq', 'integer', (c) => c.notNull())
    .addColumn('pipeline_version', 'integer', (c) => c.notNull().references('release_pipelines.version'))
    .addColumn('pipeline_digest', 'text', (c) => c.notNull())
    .addColumn('policy_digest', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('promoted_at', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('envelope', 'text', (c) => c.notNull())
    .addColumn('log_id', big, (c) => c.notNull())
    // Once per digest and stage; and the per-stage number makes concurrent promotions into a stage conflict.
    .addUniqueConstraint('release_promotions_digest_stage', ['digest', 'stage'])
    .addUniqueConstraint('release_promotions_stage_seq', ['stage', 'stage_seq'])
    .execute();
  await db.schema
    .createTable('release_vsas')
    .addColumn('promotion_id', 'text', (c) => c.primaryKey().references('release_promotions.id'))
    .addColumn('referrer', 'text', (c) => c.notNull())
    .addColumn('log_index', big, (c) => c.notNull())
    .addColumn('bundle', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('release_approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('groups', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('log_id', big, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('release_approvals_digest').on('release_approvals').column('digest').execute();
  for (const [table, key] of [
    ['release_vetoes', 'digest'],
    ['release_holds', 'stage'],
  ] as const) {
    await db.schema
      .createTable(table)
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn(key, 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('log_id', big, (c) => c.notNull())
      .execute();
    await db.schema.createIndex(`${table}_${key}`).on(table).columns([key, 'log_id']).execute();
  }
  await db.schema.createIndex('release_promotions_stage').on('release_promotions').column('stage').execute();
  for (const table of [
    'release_log',
    'release_logged',
    'release_pipelines',
    'release_promotions',
    'release_vsas',
    'release_approvals',
    'release_vetoes',
    'release_holds',
  ]) {
    await appendOnly(db, dialect, table);
  }
}

/**
 * Why a person promoted (CLI style rule 15): kept with the promotion and in its ledger leaf. Null for the
 * promotions made before, and for automatic ones, which need none.
 */
export async function migratePromotionReasons(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('release_promotions').addColumn('reason', 'text').execute();
}
