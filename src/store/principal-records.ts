import type { Executor, StoreDatabase } from './database.ts';
import { appendEvent } from './events.ts';
import type { PrincipalTable, RoleBindingTable } from './schema-access.ts';
import { StoreError } from './store-error.ts';

export interface PrincipalRecord {
  id: string;
  name: string;
  kind: 'user' | 'service';
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
  disabledBy: string | null;
}

export interface RoleBindingRecord {
  id: string;
  principalId: string;
  role: string;
  /** Stage patterns, or null for every stage. */
  stages: string[] | null;
  /** Repository patterns, or null for every repository. */
  repos: string[] | null;
  grantedAt: string;
  grantedBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

const toPrincipal = (r: PrincipalTable): PrincipalRecord => ({
  id: r.id,
  name: r.name,
  kind: r.kind === 'user' ? 'user' : 'service',
  createdAt: r.created_at,
  createdBy: r.created_by,
  disabledAt: r.disabled_at,
  disabledBy: r.disabled_by,
});

const patterns = (text: string | null) => (text === null ? null : (JSON.parse(text) as string[]));
const toBinding = (r: RoleBindingTable): RoleBindingRecord => ({
  id: r.id,
  principalId: r.principal_id,
  role: r.role,
  stages: patterns(r.stages),
  repos: patterns(r.repos),
  grantedAt: r.granted_at,
  grantedBy: r.granted_by,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
});

const bindingDetail = (b: RoleBindingRecord) => ({ id: b.id, role: b.role, stages: b.stages, repos: b.repos });

// Thrown inside a transaction to roll it back and answer `outcome` instead.
const ROLLBACK = 'Cannot commit the access change: rolled back';
const rollback = (outcome: unknown) => new StoreError('CONFLICT', ROLLBACK, { detail: { outcome } });
async function orRollback<T, R>(work: Promise<T>): Promise<T | R> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof StoreError && err.message === ROLLBACK) return (err.detail as { outcome: R }).outcome;
    throw err;
  }
}

// Unscoped admin bindings of enabled principals: the ones that can repair everything else.
async function adminsLeft(trx: Executor): Promise<number> {
  const row = await trx
    .selectFrom('role_bindings')
    .innerJoin('principals', 'principals.id', 'role_bindings.principal_id')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('role_bindings.role', '=', 'admin')
    .where('role_bindings.revoked_at', 'is', null)
    .where('role_bindings.stages', 'is', null)
    .where('role_bindings.repos', 'is', null)
    .where('principals.disabled_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Principals (users and service accounts) and their role bindings. Every change is an event in the same
 * transaction, so it reaches the ledger; the event lock (PostgreSQL) serialises access changes, so the
 * checks inside a transaction (a taken name, the last admin) hold.
 */
export function createPrincipalRecords(store: StoreDatabase) {
  const { db, dialect } = store;
  const durably = async <T>(work: Promise<T>): Promise<T> => {
    const result = await work;
    await store.durable();
    return result;
  };
  return {
    /** Creates a principal with its first role bindings; false when the name is taken. */
    async insertPrincipal(principal: PrincipalRecord, bindings: RoleBindingRecord[]): Promise<boolean> {
      return orRollback<boolean, false>(
        durably(
          db.transaction().execute(async (trx) => {
            // The event lock (PostgreSQL) serialises this with every other access change, so the name check holds.
            await appendEvent(trx, dialect, {
              kind: 'principal.create',
              actor: principal.createdBy,
              at: principal.createdAt,
              detail: {
                id: principal.id,
                name: principal.name,
                kind: principal.kind,
                roles: bindings.map(bindingDetail),
              },
            });
            const taken = await trx
              .selectFrom('principals')
              .select('id')
              .where('name', '=', principal.name)
              .executeTakeFirst();
            if (taken !== undefined) throw rollback(false);
            await trx
              .insertInto('principals')
              .values({
                id: principal.id,
                name: principal.name,
                kind: principal.kind,
                created_at: principal.createdAt,
                created_by: principal.createdBy,
                disabled_at: principal.disabledAt,
                disabled_by: principal.disabledBy,
              })
              .execute();
            for (const b of bindings) await insertBinding(trx, b);
            return true;
          }),
        ),
      );
    },
    async findPrincipal(by: { id: string } | { name: string }): Promise<PrincipalRecord | null> {
      const q = db.selectFrom('principals').selectAll();
      const row = await ('id' in by ? q.where('id', '=', by.id) : q.where('name', '=', by.name)).executeTakeFirst();
      return row === undefined ? null : toPrincipal(row);
    },
    async listPrincipals(): Promise<PrincipalRecord[]> {
      return (await db.selectFrom('principals').selectAll().orderBy('name').execute()).map(toPrincipal);
    },
    /** Disables a principal (its tokens stop working); 'last-admin' when it is the last enabled admin. */
    async disablePrincipal(id: string, at: string, actor: string): Promise<'disabled' | 'unchanged' | 'last-admin'> {
      return orRollback<'disabled', 'unchanged' | 'last-admin'>(
        durably(
          db.transaction().execute(async (trx) => {
            await appendEvent(trx, dialect, { kind: 'principal.disable', actor, at, detail: { id } });
            const admins = await adminsLeft(trx);
            const r = await trx
              .updateTable('principals')
              .set({ disabled_at: at, disabled_by: actor })
              .where('id', '=', id)
              .where('disabled_at', 'is', null)
              .executeTakeFirst();
            if (Number(r.numUpdatedRows) === 0) throw rollback('unchanged');
            if (admins > 0 && (await adminsLeft(trx)) === 0) throw rollback('last-admin');
            return 'disabled' as const;
          }),
        ),
      );
    },
    /** Role bindings in force for a principal (or for several), oldest first. */
    async bindings(principalIds: readonly string[]): Promise<RoleBindingRecord[]> {
      if (principalIds.length === 0) return [];
      const rows = await db
        .selectFrom('role_bindings')
        .selectAll()
        .where('principal_id', 'in', principalIds)
        .where('revoked_at', 'is', null)
        .orderBy('granted_at')
        .orderBy('role')
        .orderBy('id')
        .execute();
      return rows.map(toBinding);
    },
    /** Grants a role; an identical binding in force already is returned instead of a second one. */
    async grant(binding: RoleBindingRecord): Promise<{ binding: RoleBindingRecord; created: boolean }> {
      return orRollback<
        { binding: RoleBindingRecord; created: boolean },
        { binding: RoleBindingRecord; created: false }
      >(
        durably(
          db.transaction().execute(async (trx) => {
            await appendEvent(trx, dialect, {
              kind: 'role.grant',
              actor: binding.grantedBy,
              at: binding.grantedAt,
              detail: { principal: binding.principalId, ...bindingDetail(binding) },
            });
            const same = (
              await trx
                .selectFrom('role_bindings')
                .selectAll()
                .where('principal_id', '=', binding.principalId)
                .where('role', '=', binding.role)
                .where('revoked_at', 'is', null)
                .execute()
            )
              .map(toBinding)
              .find((b) => sameList(b.stages, binding.stages) && sameList(b.repos, binding.repos));
            if (same !== undefined) throw rollback({ binding: same, created: false });
            await insertBinding(trx, binding);
            return { binding, created: true };
          }),
        ),
      );
    },
    /**
     * Revokes the bindings in force of `role` for a principal (only those with exactly these stage and
     * repository patterns, when given); 'last-admin' when that would leave no enabled admin.
     */
    async revokeRole(
      filter: {
        principalId: string;
        role: string;
        stages?: readonly string[] | null;
        repos?: readonly string[] | null;
      },
      at: string,
      actor: string,
    ): Promise<RoleBindingRecord[] | 'last-admin'> {
      return orRollback<RoleBindingRecord[], 'last-admin'>(
        durably(
          db.transaction().execute(async (trx) => {
            const matching = (
              await trx
                .selectFrom('role_bindings')
                .selectAll()
                .where('principal_id', '=', filter.principalId)
                .where('role', '=', filter.role)
                .where('revoked_at', 'is', null)
                .execute()
            )
              .map(toBinding)
              .filter(
                (b) =>
                  (filter.stages === undefined || sameList(b.stages, filter.stages)) &&
                  (filter.repos === undefined || sameList(b.repos, filter.repos)),
              );
            if (matching.length === 0) return [];
            await appendEvent(trx, dialect, {
              kind: 'role.revoke',
              actor,
              at,
              detail: { principal: filter.principalId, bindings: matching.map(bindingDetail) },
            });
            const admins = await adminsLeft(trx);
            await trx
              .updateTable('role_bindings')
              .set({ revoked_at: at, revoked_by: actor })
              .where(
                'id',
                'in',
                matching.map((b) => b.id),
              )
              .execute();
            if (admins > 0 && (await adminsLeft(trx)) === 0) throw rollback('last-admin');
            return matching.map((b) => ({ ...b, revokedAt: at, revokedBy: actor }));
          }),
        ),
      );
    },
  };
}

async function insertBinding(trx: Executor, b: RoleBindingRecord): Promise<void> {
  await trx
    .insertInto('role_bindings')
    .values({
      id: b.id,
      principal_id: b.principalId,
      role: b.role,
      stages: b.stages === null ? null : JSON.stringify(b.stages),
      repos: b.repos === null ? null : JSON.stringify(b.repos),
      granted_at: b.grantedAt,
      granted_by: b.grantedBy,
      revoked_at: null,
      revoked_by: null,
    })
    .execute();
}

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
