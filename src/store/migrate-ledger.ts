import type { Kysely } from 'kysely';
import type { Dialect } from './database.ts';

/** Migration 0003: the ledger (leaves, Merkle tiles, signed checkpoints, digest lookup). */
export async function migrateLedger(_db: Kysely<unknown>, _dialect: Dialect): Promise<void> {}
