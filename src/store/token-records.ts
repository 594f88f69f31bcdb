import type { StoreDatabase } from './database.ts';
import { appendEvent } from './events.ts';
import type { TokenTable } from './schema.ts';

export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  repos: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

type Row = TokenTable;

const toRecord = (r: Row): TokenRecord => ({
  id: r.id,
  name: r.name,
  hash: r.hash,
  scopes: JSON.parse(r.scopes) as string[],
  repos: JSON.parse(r.repos) as string[],
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

/** Token rows (hashes only, never secrets); creation and revocation are events. */
export function createTokenRecords(store: StoreDatabase) {
  const { db, dialect } = store;
  const durably = async <T>(work: Promise<T>): Promise<T> => {
    const result = await work;
    await store.durable();
    return result;
  };
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
            },
          });
        }),
      );
    },
    async findByHash(hash: string): Promise<TokenRecord | null> {
      const row = await db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },
    async findById(id: string): Promise<TokenRecord | null> {
      const row = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },
    async list(): Promise<TokenRecord[]> {
      return (await db.selectFrom('tokens').selectAll().orderBy('created_at').execute()).map(toRecord);
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
  };
}

export type TokenRecords = ReturnType<typeof createTokenRecords>;
