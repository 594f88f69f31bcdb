import type { Kysely } from 'kysely';
import { appendOnly } from './append-only.ts';
import type { Dialect } from './database.ts';

/** Migration 0006: environments, releases, rollouts with their steps, services, commands, drift, leases. */
export async function migrateDeploy(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const pg = dialect === 'postgres';
  const big = pg ? 'bigint' : 'integer';
  const serial = pg ? 'bigserial' : 'integer';
  await db.schema
    .createTable('deploy_environments')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('yaml', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('applied_by', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .addColumn('log_id', big, (c) => c.notNull())
    .addPrimaryKeyConstraint('deploy_environments_pk', ['name', 'version'])
    .execute();
  await db.schema
    .createTable('deploy_releases')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('image', 'text', (c) => c.notNull())
    .addColumn('config_digest', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('deploy_rollouts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('env_version', 'integer', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('stable', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('deploy_rollouts_service')
    .on('deploy_rollouts')
    .columns(['environment', 'service', 'status'])
    .execute();
  await db.schema
    .createTable('deploy_steps')
    .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('rollout_id', 'text', (c) => c.notNull().references('deploy_rollouts.id'))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('deploy_steps_rollout').on('deploy_steps').column('rollout_id').execute();
  await db.schema
    .createTable('deploy_services')
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('current_release', 'text')
    .addColumn('previous_release', 'text')
    .addColumn('rollout_id', 'text')
    .addColumn('router_port', 'integer')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('deploy_services_pk', ['environment', 'service'])
    .execute();
  await db.schema
    .createTable('deploy_commands')
    .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('rollout_id', 'text', (c) => c.notNull())
    .addColumn('command', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('consumed_at', 'text')
    .execute();
  await db.schema
    .createTable('deploy_drift')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('release', 'text', (c) => c.notNull())
    .addColumn('findings', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('log_id', big, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('deploy_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
}

/**
 * Migration 0007: environment deletions. A deletion covers every version up to the one it names, so the
 * versions stay as the history their ledger leaves point at; applying the name again starts a new version.
 */
export async function migrateEnvironmentDeletions(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('deploy_environment_deletions')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('deleted_by', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text', (c) => c.notNull())
    .addColumn('log_id', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('deploy_environment_deletions_pk', ['name', 'version'])
    .execute();
  await appendOnly(db, dialect, 'deploy_environment_deletions');
}
