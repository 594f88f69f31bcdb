import type { KeyObject } from 'node:crypto';
import { checkpointVerifier, parseCheckpoint } from './checkpoint.ts';
import { LedgerError } from './ledger-error.ts';
import type { LedgerStore } from './ledger-store.ts';
import { createTreeBuilder, type TreeBuilder } from './merkle.ts';
import { verifyNote } from './note.ts';
import { rangeNodes } from './proof.ts';
import { createEdgeTiles, type EdgeTiles, type StoredTile, truncateTile } from './stored-tile.ts';
import type { TileReader } from './tile-reader.ts';
import { TILE_WIDTH } from './tiles.ts';

/** What the sequencer extends: the tree's compact range, its right-edge tiles and the event cursor. */
export interface TreeState {
  size: number;
  eventSeq: number;
  builder: TreeBuilder;
  edges: EdgeTiles;
}

/**
 * Loads the tree from the store: the partial tile of each tile level and the frontier (the roots of the
 * perfect subtrees that make up the tree), both read from tiles. The frontier's root must be the root the
 * latest checkpoint signed: the sequencer never extends a tree it cannot vouch for.
 */
export async function loadTreeState(
  store: LedgerStore,
  reader: TileReader,
  key: { publicKey: KeyObject; origin: string },
): Promise<TreeState> {
  const { size, eventSeq } = await store.state();
  const edge: StoredTile[] = [];
  // n = how many nodes tree level 8·level has: the tile level's last tile is partial unless n is a multiple of 256.
  for (let level = 0, n = size; n > 0; level++, n = Math.floor(n / TILE_WIDTH)) {
    const width = n % TILE_WIDTH;
    if (width === 0) continue;
    const tile = await reader.tile(level, Math.floor(n / TILE_WIDTH));
    if (tile === null || tile.hashes.length < width * 32)
      throw invalid(size, `tile ${level}/${Math.floor(n / TILE_WIDTH)} is missing or too narrow`);
    edge.push(truncateTile(tile, width));
  }
  const ids = rangeNodes(0, size);
  let builder: TreeBuilder;
  try {
    const node = await reader.nodes(ids);
    builder = createTreeBuilder({ size, frontier: ids.map(node) });
  } catch (err) {
    throw invalid(size, 'its frontier cannot be read from the tiles', err);
  }
  // The checkpoint of this size, not the latest: another sequencer may have moved on since `state()`.
  const latest = await store.checkpointAt(size);
  if (latest === null && size === 0) return { size, eventSeq, builder, edges: createEdgeTiles(edge) };
  if (latest === null) throw invalid(size, 'no checkpoint was signed at that size');
  let signed: Buffer;
  try {
    signed = parseCheckpoint(verifyNote(latest.note, [checkpointVerifier(key.publicKey, key.origin)])).root;
  } catch (err) {
    throw invalid(size, 'its latest checkpoint does not verify', err);
  }
  if (!signed.equals(builder.root())) throw invalid(size, 'the root of its tiles is not the signed root');
  return { size, eventSeq, builder, edges: createEdgeTiles(edge) };
}

function invalid(size: number, why: string, cause?: unknown): LedgerError {
  return new LedgerError(
    'STATE_INVALID',
    `Cannot extend the ledger at size ${size}: ${why}; run \`fixity ledger verify\``,
    cause === undefined ? {} : { cause },
  );
}
