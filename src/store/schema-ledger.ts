/** One leaf of the Merkle log: its index and the exact bytes its leaf hash covers (append-only). */
export interface LedgerLeafTable {
  idx: number;
  body: Uint8Array;
}

/**
 * A C2SP tlog-tiles tile: `hashes` holds the complete subtree hashes of tree level 8·level, 32 bytes each,
 * for indices 256·idx onward (full = 256 of them, immutable; the right-edge tile only grows). `interior` holds
 * the subtree hashes between this level and the next (width/2, width/4, … width/128 of them, in that
 * order), so an inclusion proof reads hashes instead of recomputing up to 255 of them.
 */
export interface LedgerTileTable {
  level: number;
  idx: number;
  hashes: Uint8Array;
  interior: Uint8Array;
}

/** Every signed checkpoint (C2SP signed note), one per integrated batch (append-only). */
export interface LedgerCheckpointTable {
  size: number;
  /** The size of the checkpoint signed before this one (null for the first), so a deleted one is missed. */
  previous: number | null;
  root: Uint8Array;
  note: string;
  created_at: string;
}

/**
 * Lookup by digest: `key` is the first 52 bits of the digest's hex (or of the SHA-256 of other digest
 * strings), a safe integer on both engines. Collisions are weeded out by re-reading the leaf.
 */
export interface LedgerDigestTable {
  key: number;
  idx: number;
}

/** One row (id 1): the tree size and the registry event cursor, moved together by each batch. */
export interface LedgerStateTable {
  id: number;
  size: number;
  event_seq: number;
}

/** Tables of the ledger (migration 0003). */
export interface LedgerTables {
  ledger_leaves: LedgerLeafTable;
  ledger_tiles: LedgerTileTable;
  ledger_checkpoints: LedgerCheckpointTable;
  ledger_digests: LedgerDigestTable;
  ledger_state: LedgerStateTable;
}
