import type { Readable } from 'node:stream';
import type { Clock, Signer } from '../core/index.ts';
import { listEvents, type StoreDatabase } from '../store/index.ts';
import { signCheckpoint } from './checkpoint.ts';
import { digestKeys } from './digest-key.ts';
import { createLeafHasher, type LeafHasher } from './leaf-hasher.ts';
import { exportLedgerArchive } from './ledger-archive.ts';
import { LedgerError } from './ledger-error.ts';
import type { LedgerReport } from './ledger-report.ts';
import { type CheckpointRow, createLedgerStore } from './ledger-store.ts';
import { EMPTY_ROOT, leafHash } from './merkle.ts';
import { consistencyProof, consistencyProofNodes, inclusionProof, inclusionProofNodes } from './proof.ts';
import { type AppendedEntry, createSequencer, type EntryInput } from './sequencer.ts';
import { createTileReader } from './tile-reader.ts';
import { encodeEntryBundle, TILE_WIDTH } from './tiles.ts';
import { loadTreeState } from './tree-state.ts';
import { type ConsistencyCheck, checkConsistencyWith, type PreviousCheckpoint, verifyLedger } from './verify-ledger.ts';

export interface LedgerOptions {
  database: StoreDatabase;
  /** Signs every checkpoint; its public key is what verifiers pin. */
  signer: Signer;
  /** The checkpoint origin line (and note key name), e.g. `fixity.example/ledger`. */
  origin: string;
  clock: Clock;
  /** A batch is integrated at `maxEntries` (default 10,000) or `maxDelayMs` after its first entry (default 0: as soon as the sequencer is free). */
  batch?: { maxEntries?: number; maxDelayMs?: number };
  /** Memory for cached tiles, for proofs (default 64 MiB). */
  cacheBytes?: number;
}

export interface SignedCheckpoint {
  size: number;
  root: Buffer;
  /** The C2SP signed note. */
  note: string;
  createdAt: string;
}

/** A checkpoint as the JSON API lists it. */
export interface CheckpointRecord {
  size: number;
  rootHash: string;
  note: string;
  createdAt: string;
}

export interface LedgerEntry {
  index: number;
  body: Buffer;
  leafHash: Buffer;
}

export interface InclusionProof {
  index: number;
  treeSize: number;
  rootHash: Buffer;
  hashes: Buffer[];
  /** The signed checkpoint of `treeSize`. */
  checkpoint: string;
}

/** The append-only Merkle log in the store. */
export interface Ledger {
  append(entries: readonly EntryInput[]): Promise<AppendedEntry[]>;
  checkpoint(): Promise<SignedCheckpoint>;
  checkpoints(after?: number, limit?: number): Promise<CheckpointRecord[]>;
  entry(index: number): Promise<LedgerEntry | null>;
  entries(start: number, end: number): Promise<LedgerEntry[]>;
  inclusionProof(index: number, treeSize?: number): Promise<InclusionProof>;
  consistencyProof(size1: number, size2: number): Promise<Buffer[]>;
  findByDigest(digest: string): Promise<number[]>;
  tile(level: number, index: number, width?: number): Promise<Buffer | null>;
  entryBundle(index: number, width?: number): Promise<Buffer | null>;
  feedEvents(): Promise<{ appended: number }>;
  verify(options?: { previous?: PreviousCheckpoint; signal?: AbortSignal }): Promise<LedgerReport>;
  checkConsistency(previous: PreviousCheckpoint): Promise<ConsistencyCheck>;
  exportArchive(options: { publicKeyPem: string; signal?: AbortSignal }): Readable;
  close(): Promise<void>;
}

/** Opens the ledger in `database`, signing its first (empty) checkpoint if it has none. */
export async function createLedger(options: LedgerOptions): Promise<Ledger> {
  const { database, signer, origin, clock } = options;
  const key = { publicKey: signer.publicKey, origin };
  const store = createLedgerStore(database);
  const reader = createTileReader(store, options.cacheBytes);
  let latest: CheckpointRow | null = await store.latestCheckpoint();
  if (latest === null) latest = await genesis();

  async function genesis(): Promise<CheckpointRow | null> {
    const { size, eventSeq } = await store.state();
    if (size !== 0) return null; // checkpoints deleted: verify says so, the sequencer refuses to extend
    const root = Buffer.from(EMPTY_ROOT);
    const note = await signCheckpoint({ size: 0, root }, signer, origin);
    const checkpoint = { size: 0, previous: null, root, note, created_at: clock.now().toISOString() };
    const write = { base: 0, size: 0, eventSeq, leaves: [], digestKeys: [], digestIdxs: [], tiles: [], checkpoint };
    // Two processes may race here; the loser's insert fails and it reads the winner's.
    await store.commit(write).catch(() => false);
    await database.durable();
    return store.latestCheckpoint();
  }

  const sequencer = createSequencer({
    store,
    signer,
    origin,
    clock,
    durable: database.durable,
    load: () => loadTreeState(store, reader, key),
    readEvents: (after, limit) => listEvents(database.db, { after, limit }),
    onCommit: (tiles, checkpoint) => {
      reader.remember(tiles);
      if (latest === null || checkpoint.size > latest.size) latest = checkpoint;
    },
    maxEntries: options.batch?.maxEntries ?? 10_000,
    maxDelayMs: options.batch?.maxDelayMs ?? 0,
    hasher: () => {
      hasher ??= createLeafHasher();
      return hasher;
    },
  });
  let hasher: LeafHasher | null = null;

  const current = async (): Promise<CheckpointRow> => {
    const row = await store.latestCheckpoint();
    if (row === null)
      throw new LedgerError('CHECKPOINT_UNKNOWN', 'Cannot read the ledger: it has no signed checkpoint');
    if (latest === null || row.size > latest.size) latest = row;
    return row;
  };
  const atSize = async (treeSize: number | undefined, index: number): Promise<CheckpointRow> => {
    if (treeSize === undefined) return latest !== null && index < latest.size ? latest : current();
    const row = await store.checkpointAt(treeSize);
    if (row === null) {
      throw new LedgerError(
        'CHECKPOINT_UNKNOWN',
        `Cannot prove at tree size ${treeSize}: no checkpoint was signed at it`,
      );
    }
    return row;
  };
  const toEntry = (r: { idx: number; body: Uint8Array }): LedgerEntry => {
    const body = Buffer.from(r.body);
    return { index: r.idx, body, leafHash: leafHash(body) };
  };

  return {
    append: (entries) => sequencer.append(entries),
    async checkpoint() {
      const row = await current();
      return { size: row.size, root: Buffer.from(row.root), note: row.note, createdAt: row.created_at };
    },
    async checkpoints(after = -1, limit = 1000) {
      const rows = await store.checkpoints(after, Math.min(limit, 10_000));
      return rows.map((r) => ({
        size: r.size,
        rootHash: Buffer.from(r.root).toString('base64'),
        note: r.note,
        createdAt: r.created_at,
      }));
    },
    async entry(index) {
      const [row] = await store.leaves(index, index + 1);
      return row === undefined ? null : toEntry(row);
    },
    async entries(start, end) {
      return (await store.leaves(start, end)).map(toEntry);
    },
    async inclusionProof(index, treeSize) {
      const cp = await atSize(treeSize, index);
      if (!Number.isSafeInteger(index) || index < 0 || index >= cp.size) {
        throw new LedgerError('INDEX_OUT_OF_RANGE', `Cannot prove entry ${index}: the tree has ${cp.size} entries`);
      }
      const node = await reader.nodes(inclusionProofNodes(index, cp.size));
      const hashes = inclusionProof(index, cp.size, node);
      return { index, treeSize: cp.size, rootHash: Buffer.from(cp.root), hashes, checkpoint: cp.note };
    },
    async consistencyProof(size1, size2) {
      const size = (await current()).size;
      if (![size1, size2].every(Number.isSafeInteger) || size1 < 0 || size1 > size2 || size2 > size) {
        throw new LedgerError(
          'INDEX_OUT_OF_RANGE',
          `Cannot prove ${size1} → ${size2}: sizes must be 0 ≤ from ≤ to ≤ ${size}`,
        );
      }
      if (size1 === 0 || size1 === size2) return [];
      return consistencyProof(size1, size2, await reader.nodes(consistencyProofNodes(size1, size2)));
    },
    async findByDigest(digest) {
      const size = (await current()).size;
      const candidates = [...new Set(await store.digestCandidates(digestKeys(digest, size)))];
      const found: number[] = [];
      // A key holds 32 bits of the digest: confirm each candidate by its body.
      for (let at = 0; at < candidates.length; at += 1000) {
        for (const row of await store.leavesAt(candidates.slice(at, at + 1000))) {
          if (Buffer.from(row.body).includes(digest)) found.push(row.idx);
        }
      }
      return found.sort((a, b) => a - b);
    },
    async tile(level, index, width = TILE_WIDTH) {
      const t = await reader.tile(level, index);
      if (t === null || t.hashes.length < width * 32) return null;
      return Buffer.from(t.hashes.subarray(0, width * 32));
    },
    async entryBundle(index, width = TILE_WIDTH) {
      const start = index * TILE_WIDTH;
      if (start + width > (await current()).size) return null;
      const rows = await store.leaves(start, start + width);
      return rows.length === width ? encodeEntryBundle(rows.map((r) => r.body)) : null;
    },
    async feedEvents() {
      let appended = 0;
      for (let n = await sequencer.feed(); n > 0; n = await sequencer.feed()) appended += n;
      return { appended };
    },
    verify: (opts = {}) => verifyLedger({ store, ...key, ...opts }),
    checkConsistency: async (previous) => checkConsistencyWith({ store, reader, ...key }, previous),
    exportArchive: (opts) => exportLedgerArchive({ store, ...opts }),
    async close() {
      await sequencer.close();
      await hasher?.close();
    },
  };
}
