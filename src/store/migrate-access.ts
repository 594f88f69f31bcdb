import type { Kysely } from 'kysely';
import { newId } from '../core/index.ts';
import type { Dialect } from './database.ts';
import type { Database } from './schema.ts';

const MIGRATION_ACTOR = 'fixity-migration';

/**
 * Migration 0005: principals, role bindings and token ownership. Every existing token moves to a service
 * account named after it (tokens sharing a name share one), holding the roles its scopes imply, so nothing
 * that worked before stops working and nothing gains rights.
 */
export async function migrateAccess(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('principals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('disabled_at', 'text')
    .addColumn('disabled_by', 'text')
    .execute();
  await db.schema
    .createTable('role_bindings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('principal_id', 'text', (c) => c.notNull().references('principals.id'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('stages', 'text')
    .addColumn('repos', 'text')
    .addColumn('granted_at', 'text', (c) => c.notNull())
    .addColumn('granted_by', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .addColumn('revoked_by', 'text')
    .execute();
  await db.schema.createIndex('role_bindings_principal').on('role_bindings').column('principal_id').execute();
  await db.schema
    .createTable('token_principals')
    .addColumn('token_id', 'text', (c) => c.primaryKey().references('tokens.id'))
    .addColumn('principal_id', 'text', (c) => c.notNull().references('principals.id'))
    .execute();
  await db.schema.createIndex('token_principals_principal').on('token_principals').column('principal_id').execute();
  await adoptTokens(db as Kysely<Database>, new Date().toISOString());
}

// The roles a legacy token's scopes imply (the access room's `rolesForScopes`, frozen here as of 0005).
function impliedRoles(scopes: string[], repos: string[]): Array<{ role: string; repos: string | null }> {
  if (scopes.includes('admin')) return [{ role: 'admin', repos: null }];
  const scoped = repos.includes('**') ? null : JSON.stringify(repos);
  const roles: Array<{ role: string; repos: string | null }> = [];
  if (scopes.includes('push') || scopes.includes('delete')) roles.push({ role: 'builder', repos: scoped });
  else if (scopes.includes('pull')) roles.push({ role: 'viewer', repos: scoped });
  return roles;
}

/** Gives every token without a principal one named after it (exported for the migration's test). */
export async function adoptTokens(db: Kysely<Database>, at: string): Promise<void> {
  const tokens = await db
    .selectFrom('tokens')
    .leftJoin('token_principals', 'token_principals.token_id', 'tokens.id')
    .where('token_principals.token_id', 'is', null)
    .selectAll('tokens')
    .orderBy('tokens.created_at')
    .orderBy('tokens.id')
    .execute();
  const byName = new Map<string, typeof tokens>();
  for (const t of tokens) byName.set(t.name, [...(byName.get(t.name) ?? []), t]);
  for (const [name, group] of byName) {
    const existing = await db.selectFrom('principals').select('id').where('name', '=', name).executeTakeFirst();
    const principalId = existing?.id ?? newId(12);
    if (existing === undefined) {
      await db
        .insertInto('principals')
        .values({
          id: principalId,
          name,
          kind: 'service',
          created_at: group[0]!.created_at,
          created_by: MIGRATION_ACTOR,
          disabled_at: null,
          disabled_by: null,
        })
        .execute();
    }
    const roles = new Map(
      group
        .flatMap((t) => impliedRoles(JSON.parse(t.scopes), JSON.parse(t.repos)))
        .map((r) => [`${r.role} ${r.repos}`, r]),
    );
    for (const r of roles.values()) {
      await db
        .insertInto('role_bindings')
        .values({
          id: newId(12),
          principal_id: principalId,
          role: r.role,
          stages: null,
          repos: r.repos,
          granted_at: at,
          granted_by: MIGRATION_ACTOR,
          revoked_at: null,
          revoked_by: null,
        })
        .execute();
    }
    for (const t of group) {
      await db.insertInto('token_principals').values({ token_id: t.id, principal_id: principalId }).execute();
    }
  }
}
