import { LedgerError } from './ledger-error.ts';
import { nodeHash } from './merkle.ts';
import type { NodeId } from './proof.ts';
import { TILE_HEIGHT, TILE_WIDTH, tileForNode } from './tiles.ts';

// A stored tile is the C2SP tile (`hashes`: the tile level's nodes) plus `interior`: the nodes of the seven tree
// levels inside the tile, level by level (width/2, width/4, … width/128 hashes). Proofs then read every node
// instead of re-hashing up to 255 of them, which is what keeps an inclusion proof well under a millisecond.

/** A tile as the store keeps it. */
export interface StoredTile {
  level: number;
  index: number;
  hashes: Uint8Array;
  interior: Uint8Array;
}

export const tileKey = (level: number, index: number): string => `${level}/${index}`;

/** Hashes of offset level `k` in a tile of `width` level-0 hashes. */
const countAt = (width: number, k: number): number => Math.floor(width / 2 ** k);

/** Where offset level `k` (1..7) starts in `interior`, in hashes. */
export function interiorStart(width: number, k: number): number {
  let start = 0;
  for (let j = 1; j < k; j++) start += countAt(width, j);
  return start;
}

/** The byte length `interior` must have for a tile of `width`. */
export function interiorLength(width: number): number {
  return interiorStart(width, TILE_HEIGHT) * 32;
}

/** The interior of a tile recomputed from its hashes (for tiles loaded from elsewhere, and for checks). */
export function interiorOf(hashes: Uint8Array): Buffer {
  const width = hashes.length / 32;
  const parts: Buffer[] = [];
  let row: Uint8Array[] = [];
  for (let i = 0; i < width; i++) row.push(hashes.subarray(i * 32, i * 32 + 32));
  for (let k = 1; k < TILE_HEIGHT; k++) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < row.length; i += 2) next.push(nodeHash(row[i]!, row[i + 1]!));
    parts.push(...next);
    row = next;
  }
  return Buffer.concat(parts);
}

/** Whether the stored tile is wide enough to hold node (offsetLevel, offset). */
export function tileHolds(tile: StoredTile, offsetLevel: number, offset: number): boolean {
  return offset < countAt(tile.hashes.length / 32, offsetLevel);
}

/** Node (offsetLevel, offset) of a stored tile; throws TILE_INVALID when the tile is too narrow or malformed. */
export function tileNode(tile: StoredTile, offsetLevel: number, offset: number): Buffer {
  const width = tile.hashes.length / 32;
  if (!Number.isInteger(width) || tile.interior.length !== interiorLength(width)) {
    throw new LedgerError('TILE_INVALID', `Cannot read tile ${tileKey(tile.level, tile.index)}: its length is wrong`);
  }
  if (!tileHolds(tile, offsetLevel, offset)) {
    throw new LedgerError('TILE_INVALID', `Cannot read tile ${tileKey(tile.level, tile.index)}: it is too narrow`);
  }
  const from = offsetLevel === 0 ? offset * 32 : (interiorStart(width, offsetLevel) + offset) * 32;
  const bytes = offsetLevel === 0 ? tile.hashes : tile.interior;
  return Buffer.from(bytes.buffer, bytes.byteOffset + from, 32);
}

/** Where a node lives: its tile (with a map key) and its place inside that tile. */
export function locateNode(id: NodeId): {
  key: string;
  level: number;
  index: number;
  offsetLevel: number;
  offset: number;
} {
  const at = tileForNode(id);
  return { key: tileKey(at.level, at.index), ...at };
}

/** A stored tile cut down to its first `width` hashes (a tile that grew since `width` was current). */
export function truncateTile(tile: StoredTile, width: number): StoredTile {
  if (tile.hashes.length === width * 32) return tile;
  const interior: Buffer[] = [];
  const have = tile.hashes.length / 32;
  for (let k = 1; k < TILE_HEIGHT; k++) {
    const start = interiorStart(have, k) * 32;
    interior.push(Buffer.from(tile.interior.subarray(start, start + countAt(width, k) * 32)));
  }
  return { ...tile, hashes: tile.hashes.subarray(0, width * 32), interior: Buffer.concat(interior) };
}

/** Tiles under construction at the right edge of the tree, fed by the tree builder's `onNode`. */
export interface EdgeTiles {
  /** Records one complete subtree (the tree builder's onNode). */
  add(level: number, index: number, hash: Uint8Array): void;
  /** Serializes every tile touched since the last call (completed ones, then the partial edge). */
  takeDirty(): StoredTile[];
}

const FULL_INTERIOR = interiorLength(TILE_WIDTH);

/** Starts from the stored partial tiles of the current edge (one per tile level at most). */
export function createEdgeTiles(edge: readonly StoredTile[]): EdgeTiles {
  // Hashes are copied into one full-size buffer per tile, laid out as a full tile's would be; a partial tile
  // is compacted when serialized. No per-hash objects: a batch touches tens of thousands of nodes.
  type Building = { level: number; index: number; hashes: Buffer; interior: Buffer; counts: number[]; dirty: boolean };
  const current: Building[] = []; // by tile level
  let dirty: Building[] = [];
  const fullStart = Array.from({ length: TILE_HEIGHT }, (_, k) => interiorStart(TILE_WIDTH, k));
  const start = (level: number, index: number): Building => ({
    level,
    index,
    hashes: Buffer.alloc(TILE_WIDTH * 32),
    interior: Buffer.alloc(FULL_INTERIOR),
    counts: new Array<number>(TILE_HEIGHT).fill(0),
    dirty: false,
  });
  const put = (t: Building, k: number, hash: Uint8Array): void => {
    const n = t.counts[k]!++;
    if (k === 0) t.hashes.set(hash, n * 32);
    else t.interior.set(hash, (fullStart[k]! + n) * 32);
  };
  for (const stored of edge) {
    const t = start(stored.level, stored.index);
    const width = stored.hashes.length / 32;
    for (let k = 0; k < TILE_HEIGHT; k++) {
      for (let o = 0; o < countAt(width, k); o++) put(t, k, tileNode(stored, k, o));
    }
    current[t.level] = t;
  }
  return {
    add(level, index, hash) {
      const tileLevel = Math.floor(level / TILE_HEIGHT);
      const k = level % TILE_HEIGHT;
      const tileIndex = Math.floor(index / (TILE_WIDTH >> k));
      let t = current[tileLevel];
      if (t === undefined || t.index !== tileIndex) {
        t = start(tileLevel, tileIndex);
        current[tileLevel] = t;
      }
      if (!t.dirty) {
        t.dirty = true;
        dirty.push(t);
      }
      put(t, k, hash);
    },
    takeDirty() {
      const out: StoredTile[] = [];
      for (const t of dirty) {
        t.dirty = false;
        const width = t.counts[0]!;
        // A full tile never changes again: hand out its buffers as they are.
        if (width === TILE_WIDTH) {
          out.push({ level: t.level, index: t.index, hashes: t.hashes, interior: t.interior });
          continue;
        }
        const interior = Buffer.alloc(interiorLength(width));
        for (let k = 1, at = 0; k < TILE_HEIGHT; k++) {
          const n = t.counts[k]! * 32;
          t.interior.copy(interior, at, fullStart[k]! * 32, fullStart[k]! * 32 + n);
          at += n;
        }
        out.push({ level: t.level, index: t.index, hashes: Buffer.from(t.hashes.subarray(0, width * 32)), interior });
      }
      dirty = [];
      return out;
    },
  };
}
