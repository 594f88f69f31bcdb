import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LedgerError } from './ledger-error.ts';
import { createTreeBuilder, leafHash, rootOf } from './merkle.ts';
import { inclusionProof, inclusionProofNodes, type NodeId, verifyInclusion } from './proof.ts';
import {
  decodeEntryBundle,
  encodeEntryBundle,
  entriesPath,
  nodeFromTile,
  parseTilePath,
  TILE_WIDTH,
  tileForNode,
  tilePath,
  tileWidthAt,
} from './tiles.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof LedgerError && e.code === code;

describe('tile paths', () => {
  test('tilePath() encodes the index in x-prefixed 3-digit groups as in the spec', () => {
    assert.equal(tilePath(0, 1234067), 'tile/0/x001/x234/067');
    assert.equal(tilePath(0, 1234067, 5), 'tile/0/x001/x234/067.p/5');
    assert.equal(tilePath(2, 0, 1), 'tile/2/000.p/1');
    assert.equal(tilePath(1, 1000), 'tile/1/x001/000');
    assert.equal(entriesPath(67, 112), 'tile/entries/067.p/112');
    assert.equal(entriesPath(273), 'tile/entries/273');
  });

  test('tilePath() rejects levels, indexes and widths out of range', () => {
    for (const f of [
      () => tilePath(64, 0),
      () => tilePath(0, -1),
      () => tilePath(0, 0, 0),
      () => tilePath(0, 0, 257),
    ]) {
      assert.throws(f, hasCode('TILE_PATH_INVALID'));
    }
    assert.throws(() => entriesPath(1.5), hasCode('TILE_PATH_INVALID'));
  });

  test('parseTilePath() round-trips every path tilePath() and entriesPath() make', () => {
    fc.assert(
      fc.property(fc.nat(63), fc.maxSafeNat(), fc.integer({ min: 1, max: 256 }), (level, index, width) => {
        assert.deepEqual(parseTilePath(tilePath(level, index, width)), { kind: 'tile', level, index, width });
        assert.deepEqual(parseTilePath(entriesPath(index, width)), { kind: 'entries', index, width });
      }),
    );
  });

  test('parseTilePath() rejects hostile and non-canonical paths', () => {
    const bad = [
      '',
      'tile/0/../../etc/passwd',
      'tile/0/x001/../067',
      '/tile/0/000',
      'tile/0/000/',
      'tile/00/000',
      'tile/64/000',
      'tile/-1/000',
      'tile/0/67',
      'tile/0/0067',
      'tile/0/x000/067',
      'tile/0/001/067',
      'tile/0/x001',
      'tile/0/000.p/0',
      'tile/0/000.p/256',
      'tile/0/000.p/05',
      'tile/0/000.p/',
      'tile/0/000.p/5/',
      'tile/0/x009/x007/x199/x254/x740/x993/000', // more than 2^53
      'tile/0/x009/x007/x199/x254/x740/993', // 2^53 + 1 is past the safe range
      'tile/entries/../000',
      'tile/entries/000\n',
      'tile/0/%30%30%30',
      'tile/0/000?x=1',
      'tile\\0\\000',
    ];
    for (const p of bad) assert.throws(() => parseTilePath(p), hasCode('TILE_PATH_INVALID'), JSON.stringify(p));
  });
});

describe('tile geometry', () => {
  test('tileWidthAt() reproduces the 70,000-leaf example from the spec', () => {
    const size = 70_000;
    assert.equal(tileWidthAt(0, 272, size), TILE_WIDTH);
    assert.equal(tileWidthAt(0, 273, size), 112);
    assert.equal(tileWidthAt(0, 274, size), 0);
    assert.equal(tileWidthAt(1, 0, size), TILE_WIDTH);
    assert.equal(tileWidthAt(1, 1, size), 17);
    assert.equal(tileWidthAt(2, 0, size), 1);
    assert.equal(tileWidthAt(3, 0, size), 0);
    assert.equal(tileWidthAt(1, 0, 256), 1);
  });

  test('tileForNode() locates nodes inside their tile', () => {
    assert.deepEqual(tileForNode({ level: 0, index: 300 }), { level: 0, index: 1, offsetLevel: 0, offset: 44 });
    assert.deepEqual(tileForNode({ level: 3, index: 33 }), { level: 0, index: 1, offsetLevel: 3, offset: 1 });
    assert.deepEqual(tileForNode({ level: 8, index: 257 }), { level: 1, index: 1, offsetLevel: 0, offset: 1 });
    assert.deepEqual(tileForNode({ level: 17, index: 130 }), { level: 2, index: 1, offsetLevel: 1, offset: 2 });
  });

  test('nodeFromTile() serves every inclusion proof of a tiled tree', () => {
    // Build a 3-level tiled tree the way storage would, from the builder's onNode callback.
    const size = 256 * 256 + 256 * 3 + 7;
    const leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from(`e${i}`)));
    const levels = new Map<number, Buffer[]>();
    const b = createTreeBuilder();
    for (const l of leaves) {
      b.push(l, (level, index, h) => {
        if (level % 8 !== 0) return;
        const row = levels.get(level / 8) ?? [];
        row[index] = h;
        levels.set(level / 8, row);
      });
    }
    const tile = (level: number, index: number): Buffer => {
      const width = tileWidthAt(level, index, size);
      assert.ok(width > 0, `tile ${level}/${index} exists`);
      return Buffer.concat(levels.get(level)!.slice(index * TILE_WIDTH, index * TILE_WIDTH + width));
    };
    const node = (id: NodeId) => {
      const t = tileForNode(id);
      return nodeFromTile(tile(t.level, t.index), t.offsetLevel, t.offset);
    };
    const root = b.root();
    for (const index of [0, 1, 255, 256, 65_535, 65_536, 66_000, size - 1]) {
      assert.ok(inclusionProofNodes(index, size).length > 0);
      assert.ok(verifyInclusion(index, size, leaves[index]!, inclusionProof(index, size, node), root), `${index}`);
    }
    assert.deepEqual(nodeFromTile(tile(0, 0), 7, 1), rootOf(leaves.slice(128, 256)));
  });

  test('nodeFromTile() rejects a node past the tile width or a ragged tile', () => {
    const hashes = Buffer.alloc(32 * 5);
    assert.throws(() => nodeFromTile(hashes, 1, 2), hasCode('TILE_INVALID'));
    assert.throws(() => nodeFromTile(hashes, 8, 0), hasCode('TILE_INVALID'));
    assert.throws(() => nodeFromTile(hashes.subarray(1), 0, 0), hasCode('TILE_INVALID'));
    assert.equal(nodeFromTile(hashes, 2, 0).length, 32);
  });
});

describe('entry bundles', () => {
  test('encodeEntryBundle() and decodeEntryBundle() round-trip entries of 0..65535 bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (entries) => {
        const got = decodeEntryBundle(encodeEntryBundle(entries));
        assert.deepEqual(
          got.map((e) => [...e]),
          entries.map((e) => [...e]),
        );
      }),
    );
    const big = Buffer.alloc(65_535, 7);
    assert.deepEqual(decodeEntryBundle(encodeEntryBundle([big, Buffer.alloc(0)])), [big, Buffer.alloc(0)]);
    assert.deepEqual(encodeEntryBundle([Buffer.from('ab')]), Buffer.from([0, 2, 0x61, 0x62]));
  });

  test('encodeEntryBundle() rejects an entry over 65535 bytes', () => {
    assert.throws(() => encodeEntryBundle([Buffer.alloc(65_536)]), hasCode('ENTRY_TOO_LARGE'));
  });

  test('decodeEntryBundle() rejects a truncated length or body', () => {
    const bundle = encodeEntryBundle([Buffer.from('hello'), Buffer.from('world')]);
    for (const cut of [1, 3, bundle.length - 1]) {
      assert.throws(() => decodeEntryBundle(bundle.subarray(0, cut)), hasCode('BUNDLE_INVALID'));
    }
    assert.deepEqual(decodeEntryBundle(new Uint8Array(0)), []);
  });
});
