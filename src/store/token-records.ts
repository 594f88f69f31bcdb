import type { StoreDatabase } from './database.ts';
import { appendEvent } from './events.ts';
import { createPrincipalRecords } from './principal-records.ts';
import type { TokenTable } from './schema.ts';

export type { PrincipalRecord, RoleBindingRecord } from './principal-records.ts';

export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  repos: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** The principal the token belongs to; absent only for rows written without one. */
  principalId?: string;
}

const toRecord = (r: TokenTable & { principal_id?: string | null }): TokenRecord => ({
  id: r.id,
  name: r.name,
  hash: r.hash,
  scopes: JSON.parse(r.scopes) as string[],
  repos: JSON.parse(r.repos) as string[],
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  ...(r.principal_id == null ? {} : { principalId: r.principal_id }),
});

/**
 * Tokens (hashes only, never secrets), with the principals they belong to and those principals' role
 * bindings (principal-records.ts). Every change is an event in the same transaction, so it reaches the ledger.
 */
export function createTokenRecords(store: StoreDatabase) {
  const { db, dialect } = store;
  const durably = async <T>(work: Promise<T>): Promise<T> => {
    const result = await work;
    await store.durable();
    return result;
  };
  const tokenColumns = db
    .selectFrom('tokens')
    .leftJoin('token_principals', 'token_principals.token_id', 'tokens.id')
    .selectAll('tokens')
    .select('token_principals.principal_id');
  return {
    async insert(token: TokenRecord, actor: string): Promise<void> {
      await durably(
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('tokens')
            .values({
              id: token.id,
              name: token.name,
              hash: token.hash,
              scopes: JSON.stringify(token.scopes),
              repos: JSON.stringify(token.repos),
              created_at: token.createdAt,
              expires_at: token.expiresAt,
              revoked_at: null,
            })
            .execute();
          if (token.principalId !== undefined) {
            await trx
              .insertInto('token_principals')
              .values({ token_id: token.id, principal_id: token.principalId })
              .execute();
          }
          await appendEvent(trx, dialect, {
            kind: 'token.create',
            actor,
            at: token.createdAt,
            detail: {
              id: token.id,
              name: token.name,
              scopes: token.scopes,
              repos: token.repos,
              expiresAt: token.expiresAt,
              ...(token.principalId === undefined ? {} : { principal: token.principalId }),
            },
          });
        }),
      );
    },
    async findByHash(hash: string): Promise<TokenRecord | null> {
      const row = await tokenColumns.where('tokens.hash', '=', hash).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },
    async findById(id: string): Promise<TokenRecord | null> {
      const row = await tokenColumns.where('tokens.id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },
    /** Every token, or one principal's. */
    async list(filter: { principalId?: string } = {}): Promise<TokenRecord[]> {
      let q = tokenColumns.orderBy('tokens.created_at').orderBy('tokens.id');
      if (filter.principalId !== undefined) q = q.where('token_principals.principal_id', '=', filter.principalId);
      return (await q.execute()).map(toRecord);
    },
    async revoke(id: string, at: string, actor: string): Promise<boolean> {
      return durably(
        db.transaction().execute(async (trx) => {
          const r = await trx
            .updateTable('tokens')
            .set({ revoked_at: at })
            .where('id', '=', id)
            .where('revoked_at', 'is', null)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) === 0) return false;
          await appendEvent(trx, dialect, { kind: 'token.revoke', actor, at, detail: { id } });
          return true;
        }),
      );
    },
    ...createPrincipalRecords(store),
  };
}

export type TokenRecords = ReturnType<typeof createTokenRecords>;
