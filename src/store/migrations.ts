import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { appendOnly } from './append-only.ts';
import type { Dialect } from './database.ts';
import { migrateAccess } from './migrate-access.ts';
import { migrateDeploy, migrateEnvironmentDeletions } from './migrate-deploy.ts';
import { migrateLedger } from './migrate-ledger.ts';
import { migratePromotionReasons, migrateRelease } from './migrate-release.ts';
import { migrateTrust } from './migrate-trust.ts';

type Migrations = Record<string, Migration>;

/** The schema, as ordered migrations. Never edit a released migration: add the next one. */
function migrations(dialect: Dialect): Migrations {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    '0001_registry': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('repositories')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('blobs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('size', big, (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_linked_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('repo_blobs')
          .addColumn('repo', 'text', (c) => c.notNull().references('repositories.name'))
          .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest').onDelete('cascade'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('repo_blobs_pk', ['repo', 'digest'])
          .execute();
        await db.schema.createIndex('repo_blobs_digest').on('repo_blobs').column('digest').execute();
        await db.schema
          .createTable('manifests')
          .addColumn('repo', 'text', (c) => c.notNull().references('repositories.name'))
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject', 'text')
          .addColumn('annotations', 'text')
          .addColumn('size', big, (c) => c.notNull())
          .addColumn('content', bytes, (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifests_pk', ['repo', 'digest'])
          .execute();
        await db.schema.createIndex('manifests_subject').on('manifests').columns(['repo', 'subject']).execute();
        // RESTRICT: garbage collection can never delete a blob that a committed manifest references.
        await db.schema
          .createTable('manifest_blobs')
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('manifest', 'text', (c) => c.notNull())
          .addColumn('blob', 'text', (c) => c.notNull().references('blobs.digest').onDelete('restrict'))
          .addPrimaryKeyConstraint('manifest_blobs_pk', ['repo', 'manifest', 'blob'])
          .addForeignKeyConstraint(
            'manifest_blobs_manifest',
            ['repo', 'manifest'],
            'manifests',
            ['repo', 'digest'],
            (c) => c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('manifest_blobs_blob').on('manifest_blobs').column('blob').execute();
        await db.schema
          .createTable('manifest_children')
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('manifest', 'text', (c) => c.notNull())
          .addColumn('child', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_children_pk', ['repo', 'manifest', 'child'])
          .addForeignKeyConstraint(
            'manifest_children_manifest',
            ['repo', 'manifest'],
            'manifests',
            ['repo', 'digest'],
            (c) => c.onDelete('cascade'),
          )
          .execute();
        await db.schema
          .createTable('tags')
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('tags_pk', ['repo', 'name'])
          .addForeignKeyConstraint('tags_manifest', ['repo', 'digest'], 'manifests', ['repo', 'digest'])
          .execute();
        await db.schema.createIndex('tags_digest').on('tags').columns(['repo', 'digest']).execute();
        await db.schema
          .createTable('events')
          .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('repo', 'text')
          .addColumn('digest', 'text')
          .addColumn('tag', 'text')
          .addColumn('previous', 'text')
          .addColumn('body', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('events_digest').on('events').column('digest').execute();
        await appendOnly(db, dialect, 'events');
        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('repos', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0002_trust': { up: (db: Kysely<unknown>) => migrateTrust(db, dialect) },
    '0003_ledger': { up: (db: Kysely<unknown>) => migrateLedger(db, dialect) },
    '0004_release': { up: (db: Kysely<unknown>) => migrateRelease(db, dialect) },
    '0005_access': { up: (db) => migrateAccess(db, dialect) },
    '0006_deploy': { up: (db) => migrateDeploy(db, dialect) },
    '0007_deploy_deletions': { up: (db) => migrateEnvironmentDeletions(db, dialect) },
    '0008_promotion_reasons': { up: (db) => migratePromotionReasons(db) },
  };
}

/** Applies every pending migration; returns Kysely's per-step result set instead of throwing halfway. */
export async function migrateToLatest(db: Kysely<unknown>, dialect: Dialect): Promise<MigrationResultSet> {
  const all = migrations(dialect);
  // Kysely looks for its bookkeeping tables in every schema unless told which one; another schema's
  // tables (a second tenant, a parallel test run) would make it skip creating ours.
  const schema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => all },
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  return migrator.migrateToLatest();
}
