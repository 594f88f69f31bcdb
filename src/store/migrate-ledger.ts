import { type Kysely, sql } from 'kysely';
import { appendOnly } from './append-only.ts';
import type { Dialect } from './database.ts';

/** Migration 0003: the ledger (leaves, Merkle tiles, signed checkpoints, digest lookup, sequencer state). */
export async function migrateLedger(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const pg = dialect === 'postgres';
  const big = pg ? 'bigint' : 'integer';
  const bytes = pg ? 'bytea' : 'blob';
  // SQLite: `integer primary key` is the rowid, so leaves append to the end of one B-tree.
  await db.schema
    .createTable('ledger_leaves')
    .addColumn('idx', big, (c) => c.primaryKey())
    .addColumn('body', bytes, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('ledger_tiles')
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('idx', big, (c) => c.notNull())
    .addColumn('hashes', bytes, (c) => c.notNull())
    .addColumn('interior', bytes, (c) => c.notNull())
    .addPrimaryKeyConstraint('ledger_tiles_pk', ['level', 'idx'])
    .execute();
  await db.schema
    .createTable('ledger_checkpoints')
    .addColumn('size', big, (c) => c.primaryKey())
    .addColumn('previous', big)
    .addColumn('root', bytes, (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  // A narrow integer key instead of a unique index on 32-byte hashes: random inserts into that index
  // were what cut SQLite appends to ~48k rows/s (research/limits.md §6a).
  await db.schema
    .createTable('ledger_digests')
    .addColumn('key', big, (c) => c.notNull())
    .addColumn('idx', big, (c) => c.notNull())
    .addPrimaryKeyConstraint('ledger_digests_pk', ['key', 'idx'])
    .$call((t) => (pg ? t : t.modifyEnd(sql`without rowid`)))
    .execute();
  await db.schema
    .createTable('ledger_state')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('size', big, (c) => c.notNull())
    .addColumn('event_seq', big, (c) => c.notNull())
    .execute();
  await sql`insert into ledger_state (id, size, event_seq) values (1, 0, 0)`.execute(db);
  for (const table of ['ledger_leaves', 'ledger_checkpoints', 'ledger_digests']) await appendOnly(db, dialect, table);
  await tilesGrowOnly(db, dialect);
}

// Tiles are rewritten only at the right edge, and only by appending hashes: a full tile (8192 bytes) never
// changes, a partial one keeps its prefix, and none is ever deleted.
async function tilesGrowOnly(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const message = 'Cannot change ledger_tiles: only the partial right-edge tile may grow';
  if (dialect === 'postgres') {
    // Hashes do not compress: skip pglz on every write of an 8-16 KiB value.
    await sql`alter table ledger_tiles alter column hashes set storage external`.execute(db);
    await sql`alter table ledger_tiles alter column interior set storage external`.execute(db);
    await sql`CREATE OR REPLACE FUNCTION fixity_ledger_tiles_grow_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' OR length(OLD.hashes) >= 8192 OR NEW.level <> OLD.level OR NEW.idx <> OLD.idx
           OR length(NEW.hashes) < length(OLD.hashes)
           OR substring(NEW.hashes from 1 for length(OLD.hashes)) <> OLD.hashes THEN
          RAISE EXCEPTION ${sql.lit(message)};
        END IF;
        RETURN NEW;
      END $$`.execute(db);
    await sql`CREATE TRIGGER ledger_tiles_grow_only BEFORE UPDATE OR DELETE ON ledger_tiles
      FOR EACH ROW EXECUTE FUNCTION fixity_ledger_tiles_grow_only()`.execute(db);
    return;
  }
  await sql`CREATE TRIGGER ledger_tiles_no_delete BEFORE DELETE ON ledger_tiles
    BEGIN SELECT RAISE(ABORT, ${sql.lit(message)}); END`.execute(db);
  await sql`CREATE TRIGGER ledger_tiles_grow_only BEFORE UPDATE ON ledger_tiles
    WHEN length(OLD.hashes) >= 8192 OR NEW.level IS NOT OLD.level OR NEW.idx IS NOT OLD.idx
      OR length(NEW.hashes) < length(OLD.hashes) OR substr(NEW.hashes, 1, length(OLD.hashes)) IS NOT OLD.hashes
    BEGIN SELECT RAISE(ABORT, ${sql.lit(message)}); END`.execute(db);
}
