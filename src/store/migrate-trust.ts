import type { Kysely } from 'kysely';
import type { Dialect } from './database.ts';

/** Migration 0002: the trust store (public keys by role, validity windows, revocations). */
export async function migrateTrust(_db: Kysely<unknown>, _dialect: Dialect): Promise<void> {}
