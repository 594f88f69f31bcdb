import { type Kysely, sql } from 'kysely';
import type { Dialect } from './database.ts';

// Refuses UPDATE and DELETE in the database itself, so no code path (or operator with a SQL shell and the
// app's role) rewrites history by accident; the ledger's Merkle tree detects the deliberate kind.
export async function appendOnly(db: Kysely<unknown>, dialect: Dialect, table: string): Promise<void> {
  if (dialect === 'postgres') {
    await sql`CREATE OR REPLACE FUNCTION fixity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'Cannot change %: the table is append-only', TG_TABLE_NAME; END $$`.execute(db);
    await sql`CREATE TRIGGER ${sql.id(`${table}_append_only`)} BEFORE UPDATE OR DELETE ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION fixity_append_only()`.execute(db);
    return;
  }
  // SQLite refuses bound parameters inside a trigger body, so the message goes in as a literal.
  for (const op of ['UPDATE', 'DELETE']) {
    await sql`CREATE TRIGGER ${sql.id(`${table}_no_${op.toLowerCase()}`)} BEFORE ${sql.raw(op)} ON ${sql.table(table)}
      BEGIN SELECT RAISE(ABORT, ${sql.lit(`Cannot change ${table}: the table is append-only`)}); END`.execute(db);
  }
}
