import { sql } from 'kysely';
import type { Dialect, StoreDatabase } from '../store/index.ts';
import {
  type BatchWrite,
  type CheckpointRow,
  commitPostgres,
  commitSqlite,
  exclusivePostgres,
} from './ledger-writes.ts';
import type { StoredTile } from './stored-tile.ts';

// The ledger's reads, and its one write (ledger-writes.ts), over either engine.

export type { BatchWrite, CheckpointRow } from './ledger-writes.ts';

export interface LedgerStore {
  readonly dialect: Dialect;
  state(): Promise<{ size: number; eventSeq: number }>;
  /** Writes a batch; false (and nothing written) when the tree is no longer at `base`. */
  commit(batch: BatchWrite): Promise<boolean>;
  /**
   * Runs `fn` while no other writer can commit (PostgreSQL: a transaction holding the ledger lock), handing
   * it the commit to use. On SQLite, whose other writers are other processes, it is the plain commit.
   */
  exclusive<T>(fn: (commit: (batch: BatchWrite) => Promise<boolean>) => Promise<T>): Promise<T>;
  tiles(keys: ReadonlyArray<{ level: number; index: number }>): Promise<StoredTile[]>;
  /** Tiles of one level with from <= index < to, in order. */
  tileRange(level: number, from: number, to: number): Promise<StoredTile[]>;
  /** Leaf rows with start <= idx < end, in order (rows may be missing if tampered with). */
  leaves(start: number, end: number): Promise<Array<{ idx: number; body: Uint8Array }>>;
  /** The leaf rows at `indices` (those that exist), in index order. */
  leavesAt(indices: readonly number[]): Promise<Array<{ idx: number; body: Uint8Array }>>;
  /** How many leaf rows lie outside [0, size), and the first of them. */
  leavesOutside(size: number): Promise<{ count: number; first: number | null }>;
  checkpointAt(size: number): Promise<CheckpointRow | null>;
  latestCheckpoint(): Promise<CheckpointRow | null>;
  /** Checkpoints with size > after, ascending. */
  checkpoints(after: number, limit: number): Promise<CheckpointRow[]>;
  /** Leaf indices filed under any of `keys`. */
  digestCandidates(keys: readonly number[]): Promise<number[]>;
}

/** The ledger's SQL over either engine. */
export function createLedgerStore(database: StoreDatabase): LedgerStore {
  const { db, dialect } = database;
  const pg = dialect === 'postgres';
  const tileRow = (r: { level: number; idx: number; hashes: Uint8Array; interior: Uint8Array }): StoredTile => ({
    level: Number(r.level),
    index: Number(r.idx),
    hashes: r.hashes,
    interior: r.interior,
  });

  return {
    dialect,
    async state() {
      const { rows } = await sql<{ size: number; event_seq: number }>`
        select size, event_seq from ledger_state where id = 1`.execute(db);
      const row = rows[0];
      return { size: Number(row?.size ?? 0), eventSeq: Number(row?.event_seq ?? 0) };
    },
    commit: (batch) => (pg ? commitPostgres(db, batch) : commitSqlite(db, batch)),
    exclusive: (fn) =>
      pg ? exclusivePostgres(db, (trx) => fn((batch) => commitPostgres(trx, batch))) : fn((b) => commitSqlite(db, b)),
    async tiles(keys) {
      if (keys.length === 0) return [];
      const where = sql.join(
        keys.map((k) => sql`(level = ${k.level} and idx = ${k.index})`),
        sql` or `,
      );
      const { rows } = await sql<{ level: number; idx: number; hashes: Uint8Array; interior: Uint8Array }>`
        select level, idx, hashes, interior from ledger_tiles where ${where}`.execute(db);
      return rows.map(tileRow);
    },
    async tileRange(level, from, to) {
      const { rows } = await sql<{ level: number; idx: number; hashes: Uint8Array; interior: Uint8Array }>`
        select level, idx, hashes, interior from ledger_tiles where level = ${level} and idx >= ${from} and idx < ${to}
        order by idx`.execute(db);
      return rows.map(tileRow);
    },
    async leaves(start, end) {
      const { rows } = await sql<{ idx: number; body: Uint8Array }>`
        select idx, body from ledger_leaves where idx >= ${start} and idx < ${end} order by idx`.execute(db);
      return rows.map((r) => ({ idx: Number(r.idx), body: r.body }));
    },
    async leavesAt(indices) {
      if (indices.length === 0) return [];
      const { rows } = await sql<{ idx: number; body: Uint8Array }>`
        select idx, body from ledger_leaves where idx in (${sql.join([...indices])}) order by idx`.execute(db);
      return rows.map((r) => ({ idx: Number(r.idx), body: r.body }));
    },
    async leavesOutside(size) {
      const { rows } = await sql<{ n: number; first: number | null }>`
        select count(*) as n, min(idx) as first from ledger_leaves where idx >= ${size} or idx < 0`.execute(db);
      const first = rows[0]?.first;
      return { count: Number(rows[0]?.n ?? 0), first: first === null || first === undefined ? null : Number(first) };
    },
    async checkpointAt(size) {
      const { rows } = await sql<CheckpointRow>`
        select size, previous, root, note, created_at from ledger_checkpoints where size = ${size}`.execute(db);
      return rows[0] === undefined ? null : checkpointRow(rows[0]);
    },
    async latestCheckpoint() {
      const { rows } = await sql<CheckpointRow>`
        select size, previous, root, note, created_at from ledger_checkpoints order by size desc limit 1`.execute(db);
      return rows[0] === undefined ? null : checkpointRow(rows[0]);
    },
    async checkpoints(after, limit) {
      const { rows } = await sql<CheckpointRow>`
        select size, previous, root, note, created_at from ledger_checkpoints where size > ${after}
        order by size limit ${limit}`.execute(db);
      return rows.map(checkpointRow);
    },
    async digestCandidates(keys) {
      if (keys.length === 0) return [];
      const { rows } = pg
        ? await sql<{ idx: number }>`select idx from ledger_digests where key = any(${[...keys]}::bigint[])
            order by idx`.execute(db)
        : await sql<{ idx: number }>`select idx from ledger_digests
            where key in (select value from json_each(${JSON.stringify(keys)})) order by idx`.execute(db);
      return rows.map((r) => Number(r.idx));
    },
  };
}

function checkpointRow(r: CheckpointRow): CheckpointRow {
  return {
    size: Number(r.size),
    previous: r.previous === null ? null : Number(r.previous),
    root: r.root,
    note: r.note,
    created_at: r.created_at,
  };
}
