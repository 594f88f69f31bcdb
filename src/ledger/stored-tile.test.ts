import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createTreeBuilder, leafHash, nodeHash, rootOf } from './merkle.ts';
import {
  createEdgeTiles,
  interiorLength,
  interiorOf,
  type StoredTile,
  tileKey,
  tileNode,
  truncateTile,
} from './stored-tile.ts';
import { nodeFromTile, TILE_WIDTH } from './tiles.ts';

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

/** Appends `hashes` in batches of the given sizes, keeping the newest version of every tile written. */
function grow(hashes: Buffer[], batches: number[], start: StoredTile[] = [], from = 0) {
  const builder = createTreeBuilder(
    from === 0 ? undefined : { size: from, frontier: frontierOf(hashes.slice(0, from)) },
  );
  const edges = createEdgeTiles(start);
  const tiles = new Map<string, StoredTile>();
  let at = from;
  for (const size of batches) {
    for (const h of hashes.slice(at, at + size)) builder.push(h, edges.add);
    at += size;
    for (const t of edges.takeDirty()) tiles.set(tileKey(t.level, t.index), t);
  }
  return tiles;
}

// The compact range of a prefix, from the RFC definition: the perfect subtrees of its binary decomposition.
function frontierOf(hashes: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, rest = hashes.length; rest > 0; ) {
    const span = 2 ** Math.floor(Math.log2(rest));
    out.push(rootOf(hashes.slice(at, at + span)));
    at += span;
    rest -= span;
  }
  return out;
}

/** The tile (level, index) of a tree of `hashes`, straight from MTH over the leaves. */
function expectedTile(hashes: Buffer[], level: number, index: number): Buffer {
  const span = TILE_WIDTH ** level;
  const out: Buffer[] = [];
  for (let j = 0; j < TILE_WIDTH; j++) {
    const from = (index * TILE_WIDTH + j) * span;
    if (from + span > hashes.length) break;
    out.push(rootOf(hashes.slice(from, from + span)));
  }
  return Buffer.concat(out);
}

describe('stored tiles', () => {
  test('createEdgeTiles() writes the C2SP tiles and their interior, whatever the batch sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }), (batches) => {
        const total = batches.reduce((a, b) => a + b, 0);
        const hashes = leaves(total);
        const tiles = grow(hashes, batches);
        assert.equal(tiles.size, Math.ceil(total / TILE_WIDTH) + (total >= TILE_WIDTH ? 1 : 0));
        for (const t of tiles.values()) {
          assert.deepEqual(t.hashes, expectedTile(hashes, t.level, t.index), tileKey(t.level, t.index));
          assert.deepEqual(t.interior, interiorOf(t.hashes));
          assert.equal(t.interior.length, interiorLength(t.hashes.length / 32));
        }
      }),
      { numRuns: 60 },
    );
  });

  test('createEdgeTiles() resumed from the stored edge carries on as if never stopped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 400 }), (first, second) => {
        const hashes = leaves(first + second);
        const straight = grow(hashes, [first, second]);
        const before = grow(hashes, [first]);
        const edge = [...before.values()].filter((t) => t.hashes.length < TILE_WIDTH * 32);
        const resumed = grow(hashes, [second], edge, first);
        for (const [key, t] of resumed) assert.deepEqual(t, straight.get(key), key);
      }),
      { numRuns: 40 },
    );
  });

  test('tileNode() reads every node of a tile, matching nodeFromTile() which hashes it afresh', () => {
    const hashes = Buffer.concat(leaves(200));
    const tile = { level: 0, index: 0, hashes, interior: interiorOf(hashes) };
    for (let k = 0; k < 8; k++) {
      for (let o = 0; o < Math.floor(200 / 2 ** k); o++)
        assert.deepEqual(tileNode(tile, k, o), nodeFromTile(hashes, k, o));
    }
    assert.throws(() => tileNode(tile, 7, 1), { code: 'TILE_INVALID' });
  });

  test('truncateTile() gives the tile as it was at a smaller width', () => {
    const hashes = Buffer.concat(leaves(256));
    const full = { level: 0, index: 3, hashes, interior: interiorOf(hashes) };
    for (const width of [1, 2, 3, 100, 255]) {
      const cut = truncateTile(full, width);
      assert.deepEqual(cut.interior, interiorOf(hashes.subarray(0, width * 32)));
    }
  });

  test('a full level-1 tile holds the roots of 256 full level-0 tiles', () => {
    const hashes = leaves(TILE_WIDTH * TILE_WIDTH + 300);
    const tiles = grow(hashes, [40_000, TILE_WIDTH * TILE_WIDTH + 300 - 40_000]);
    const level1 = tiles.get(tileKey(1, 0))!;
    assert.equal(level1.hashes.length, TILE_WIDTH * 32);
    for (const j of [0, 17, 255]) {
      const t = tiles.get(tileKey(0, j))!;
      const root = nodeHash(nodeFromTile(t.hashes, 7, 0), nodeFromTile(t.hashes, 7, 1));
      assert.deepEqual(level1.hashes.subarray(j * 32, j * 32 + 32), root);
    }
    assert.equal(tiles.get(tileKey(2, 0))!.hashes.length, 32, 'one level-16 node so far');
  });
});
