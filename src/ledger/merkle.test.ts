import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LedgerError } from './ledger-error.ts';
import { createTreeBuilder, EMPTY_ROOT, leafHash, nodeHash, popcount, rootOf } from './merkle.ts';

interface Reference {
  basic: Array<{
    desc: string;
    want: string;
    leafHex?: string;
    leafAscii?: string;
    leftAscii?: string;
    rightAscii?: string;
  }>;
  leafInputsHex: string[];
  nodeHashesByLevel: string[][];
  rootHashesBySize: string[];
}
const reference: Reference = JSON.parse(
  readFileSync(
    new URL('../../../shared/vectors/transparency-dev-merkle/rfc6962-reference.json', import.meta.url),
    'utf8',
  ),
);
const leaves = reference.leafInputsHex.map((h) => leafHash(Buffer.from(h, 'hex')));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const randomLeaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

// research §5.1, the canonical 8-leaf tree
const ROOTS_8 = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('hashing', () => {
  test('leafHash() and nodeHash() match the RFC 6962 reference vectors', () => {
    const [empty, ...rest] = reference.basic;
    assert.equal(hex(EMPTY_ROOT), empty!.want);
    for (const v of rest) {
      const got =
        v.leftAscii !== undefined
          ? nodeHash(Buffer.from(v.leftAscii), Buffer.from(v.rightAscii!))
          : leafHash(v.leafHex !== undefined ? Buffer.from(v.leafHex, 'hex') : Buffer.from(v.leafAscii!));
      assert.equal(hex(got), v.want, v.desc);
    }
  });

  test('leafHash() equals SHA-256(0x00 || entry) for entries larger than its scratch buffer', () => {
    for (const size of [0, 1, 1023, 1024, 5000, 70_000]) {
      const entry = randomBytes(size);
      const want = createHash('sha256')
        .update(Buffer.from([0]))
        .update(entry)
        .digest();
      assert.deepEqual(leafHash(entry), want);
    }
  });

  test('createTreeBuilder() push() rejects a leaf hash that is not 32 bytes', () => {
    assert.throws(
      () => createTreeBuilder().push(Buffer.alloc(31)),
      (e) => e instanceof LedgerError && e.code === 'HASH_INVALID',
    );
  });
});

describe('rootOf()', () => {
  test('rootOf() matches the reference roots for 0..8 leaves and the research table', () => {
    for (let n = 0; n <= 8; n++) assert.equal(hex(rootOf(leaves.slice(0, n))), reference.rootHashesBySize[n]);
    for (let n = 1; n <= 8; n++) assert.equal(hex(rootOf(leaves.slice(0, n))), ROOTS_8[n - 1]);
  });
});

describe('createTreeBuilder()', () => {
  test('createTreeBuilder() gives rootOf() for every prefix of the reference tree and the EMPTY_ROOT when empty', () => {
    const b = createTreeBuilder();
    assert.deepEqual(b.root(), EMPTY_ROOT);
    for (const [i, l] of leaves.entries()) {
      b.push(l);
      assert.equal(b.size, i + 1);
      assert.equal(hex(b.root()), reference.rootHashesBySize[i + 1]);
    }
  });

  test('createTreeBuilder() emits every node hash of the reference tree through onNode', () => {
    const seen = new Map<string, string>();
    const b = createTreeBuilder();
    for (const l of leaves) b.push(l, (level, index, h) => seen.set(`${level}/${index}`, hex(h)));
    const want = new Map(reference.nodeHashesByLevel.flatMap((row, level) => row.map((h, i) => [`${level}/${i}`, h])));
    assert.deepEqual(seen, want);
  });

  test('createTreeBuilder() equals rootOf() for random sizes and resumes from a saved frontier', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), fc.nat(), (n, cut) => {
        const ls = randomLeaves(n);
        const split = n === 0 ? 0 : cut % (n + 1);
        const first = createTreeBuilder();
        for (const l of ls.slice(0, split)) first.push(l);
        assert.equal(first.frontier().length, popcount(split));
        const resumed = createTreeBuilder({ size: first.size, frontier: first.frontier() });
        for (const l of ls.slice(split)) resumed.push(l);
        assert.deepEqual(resumed.root(), rootOf(ls));
        assert.equal(resumed.size, n);
      }),
      { numRuns: 60 },
    );
  });

  test('createTreeBuilder() onNode emits exactly the complete aligned subtrees, each once, with their MTH', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), (n) => {
        const ls = randomLeaves(n);
        const seen: string[] = [];
        const b = createTreeBuilder();
        for (const l of ls) {
          b.push(l, (level, index, h) => {
            const w = 2 ** level;
            assert.deepEqual(h, rootOf(ls.slice(index * w, (index + 1) * w)));
            seen.push(`${level}/${index}`);
          });
        }
        const want: string[] = [];
        for (let level = 0; 2 ** level <= n; level++) {
          for (let i = 0; (i + 1) * 2 ** level <= n; i++) want.push(`${level}/${i}`);
        }
        assert.deepEqual(seen.sort(), want.sort());
      }),
      { numRuns: 40 },
    );
  });

  test('createTreeBuilder() rejects a frontier that does not match its size', () => {
    const bad = (size: number, frontier: Buffer[]) => () => createTreeBuilder({ size, frontier });
    const h = Buffer.alloc(32);
    assert.throws(bad(3, [h]), (e) => e instanceof LedgerError && e.code === 'FRONTIER_INVALID');
    assert.throws(bad(1, [Buffer.alloc(31)]), LedgerError);
    assert.throws(bad(-1, []), LedgerError);
    assert.throws(bad(1.5, [h]), LedgerError);
  });

  test('createTreeBuilder() is not affected when the caller reuses the array it pushed', () => {
    const b = createTreeBuilder();
    const scratch = Buffer.from(leaves[0]!);
    b.push(scratch);
    scratch.fill(0);
    b.push(leaves[1]!);
    assert.equal(hex(b.root()), ROOTS_8[1]);
  });

  test('popcount() counts bits of sizes beyond 32 bits', () => {
    assert.equal(popcount(2 ** 40 + 2 ** 33 + 7), 5);
    assert.equal(popcount(0), 0);
  });
});
