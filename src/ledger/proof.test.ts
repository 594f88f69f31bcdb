import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LedgerError } from './ledger-error.ts';
import { leafHash, rootOf } from './merkle.ts';
import {
  consistencyProof,
  consistencyProofNodes,
  inclusionProof,
  inclusionProofNodes,
  type NodeId,
  verifyConsistency,
  verifyInclusion,
} from './proof.ts';

const TESTDATA = new URL('../../../shared/vectors/transparency-dev-merkle/testdata/', import.meta.url);
const b64 = (s: string) => Buffer.from(s, 'base64');

function probes<T>(kind: string): Array<[string, T]> {
  const dir = new URL(`${kind}/`, TESTDATA);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as T]);
}

interface InclusionProbe {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  wantErr: boolean;
}
interface ConsistencyProbe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}

const leavesOf = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`${salt}:${i}`)));
/** The hash of a complete subtree, straight from the definition, checking it lies inside the tree. */
const nodeOf = (leaves: Buffer[]) => (id: NodeId) => {
  const w = 2 ** id.level;
  assert.ok((id.index + 1) * w <= leaves.length, `node ${id.level}/${id.index} is not complete`);
  return rootOf(leaves.slice(id.index * w, (id.index + 1) * w));
};
const zero = () => Buffer.alloc(32);
/** A proof for a wrong size can only verify when that size has a proof of the same shape; otherwise it must not. */
const differsInclusion = (index: number, size: number, n: number) =>
  index >= size || inclusionProof(index, size, zero).length !== n;
const differsConsistency = (size1: number, size2: number, n: number) =>
  size1 < 1 || size1 > size2 || consistencyProof(size1, size2, zero).length !== n;
const flipBit = (proof: Buffer[], at: number, bit: number) =>
  proof.map((p, i) => (i === at ? Buffer.from(p.map((b, j) => (j === bit >> 3 ? b ^ (1 << (bit & 7)) : b))) : p));

describe('official transparency-dev vectors', () => {
  const inclusion = probes<InclusionProbe>('inclusion');
  const consistency = probes<ConsistencyProbe>('consistency');

  test('verifyInclusion() agrees with every inclusion probe', () => {
    assert.ok(inclusion.length > 50);
    for (const [name, p] of inclusion) {
      const ok = verifyInclusion(p.leafIdx, p.treeSize, b64(p.leafHash), (p.proof ?? []).map(b64), b64(p.root));
      assert.equal(ok, !p.wantErr, name);
    }
  });

  test('verifyConsistency() agrees with every consistency probe', () => {
    assert.ok(consistency.length > 50);
    for (const [name, p] of consistency) {
      const ok = verifyConsistency(p.size1, p.size2, (p.proof ?? []).map(b64), b64(p.root1), b64(p.root2));
      assert.equal(ok, !p.wantErr, name);
    }
  });

  test('inclusionProof() and consistencyProof() regenerate the happy-path probes of the reference tree', () => {
    const ref = JSON.parse(readFileSync(new URL('../rfc6962-reference.json', TESTDATA), 'utf8')) as {
      leafInputsHex: string[];
    };
    const leaves = ref.leafInputsHex.map((h) => leafHash(Buffer.from(h, 'hex')));
    let checked = 0;
    for (const [name, p] of inclusion.filter(([f, p]) => f.endsWith('happy-path.json') && p.treeSize <= 8)) {
      const got = inclusionProof(p.leafIdx, p.treeSize, nodeOf(leaves.slice(0, p.treeSize)));
      assert.deepEqual(got, (p.proof ?? []).map(b64), name);
      checked++;
    }
    for (const [name, p] of consistency.filter(([f, p]) => f.endsWith('happy-path.json') && p.size2 <= 8)) {
      const got = consistencyProof(p.size1, p.size2, nodeOf(leaves.slice(0, p.size2)));
      assert.deepEqual(got, (p.proof ?? []).map(b64), name);
      checked++;
    }
    assert.ok(checked >= 4);
  });
});

describe('inclusion proofs', () => {
  test('inclusionProofNodes() asks only for complete subtrees, e.g. index 0 of 7', () => {
    assert.deepEqual(inclusionProofNodes(0, 7), [
      { level: 0, index: 1 },
      { level: 1, index: 1 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    assert.deepEqual(inclusionProofNodes(0, 1), []);
  });

  test('inclusionProof() rejects an index outside the tree and an empty tree', () => {
    const none = () => Buffer.alloc(32);
    assert.throws(
      () => inclusionProof(3, 3, none),
      (e) => e instanceof LedgerError && e.code === 'PROOF_INVALID',
    );
    assert.throws(() => inclusionProof(-1, 3, none), LedgerError);
    assert.throws(
      () => inclusionProof(0, 0, none),
      (e) => e instanceof LedgerError && e.code === 'TREE_SIZE_INVALID',
    );
  });

  test('verifyInclusion() accepts every generated proof and rejects every mutation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }).chain((size) => fc.tuple(fc.constant(size), fc.nat(size - 1), fc.nat())),
        ([size, index, seed]) => {
          const leaves = leavesOf(size, seed);
          const root = rootOf(leaves);
          const proof = inclusionProof(index, size, nodeOf(leaves));
          const leaf = leaves[index]!;
          assert.ok(verifyInclusion(index, size, leaf, proof, root));
          assert.ok(verifyInclusion(BigInt(index), BigInt(size), leaf, proof, root));
          assert.ok(!verifyInclusion(index, size, leaf, proof, leafHash(Buffer.from('other root'))));
          assert.ok(!verifyInclusion(index, size, leafHash(Buffer.from('other leaf')), proof, root));
          for (let at = 0; at < proof.length; at++) {
            assert.ok(!verifyInclusion(index, size, leaf, flipBit(proof, at, seed % 256), root), 'bit flip');
          }
          if (index + 1 < size) assert.ok(!verifyInclusion(index + 1, size, leaf, proof, root), 'index + 1');
          if (index > 0) assert.ok(!verifyInclusion(index - 1, size, leaf, proof, root), 'index - 1');
          for (const wrong of [size + 1, size - 1, size * 2, Math.floor(size / 2)]) {
            if (wrong === size || !differsInclusion(index, wrong, proof.length)) continue;
            assert.ok(!verifyInclusion(index, wrong, leaf, proof, root), `size ${wrong}`);
          }
          if (proof.length > 0) assert.ok(!verifyInclusion(index, size, leaf, proof.slice(1), root), 'truncated');
          if (proof.length > 0) assert.ok(!verifyInclusion(index, size, leaf, proof.slice(0, -1), root), 'cut end');
          assert.ok(!verifyInclusion(index, size, leaf, [...proof, root], root), 'extended');
          assert.ok(!verifyInclusion(index, size, leaf, [root, ...proof], root), 'preceded');
        },
      ),
      { numRuns: 150 },
    );
  });

  test('verifyInclusion() rejects hashes that are not 32 bytes and non-integer positions', () => {
    const leaves = leavesOf(5);
    const root = rootOf(leaves);
    const proof = inclusionProof(2, 5, nodeOf(leaves));
    assert.ok(!verifyInclusion(2, 5, leaves[2]!, [...proof.slice(0, -1), Buffer.alloc(33)], root));
    assert.ok(!verifyInclusion(2, 5, leaves[2]!.subarray(1), proof, root));
    assert.ok(!verifyInclusion(2.5, 5, leaves[2]!, proof, root));
    assert.ok(!verifyInclusion(2, Number.NaN, leaves[2]!, proof, root));
  });
});

/** Checks that `ids` are complete subtrees inside `size` that, with `extra` ranges, tile [0, size) exactly. */
function assertPartition(ids: NodeId[], size: number, extra: Array<[number, number]>) {
  const ranges = ids.map(({ level, index }): [number, number] => [index * 2 ** level, (index + 1) * 2 ** level]);
  for (const [, end] of ranges) assert.ok(end <= size);
  const sorted = [...ranges, ...extra].sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [from, to] of sorted) {
    assert.equal(from, at);
    at = to;
  }
  assert.equal(at, size);
}

describe('proof shapes for trees up to 2^53', () => {
  test('inclusionProofNodes() and the leaf partition the tree', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).chain((n) => fc.tuple(fc.nat(n - 1), fc.constant(n))),
        ([index, size]) => assertPartition(inclusionProofNodes(index, size), size, [[index, index + 1]]),
      ),
    );
  });

  test('consistencyProofNodes() partition the new tree, less the old one when it is a complete subtree', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: Number.MAX_SAFE_INTEGER })
          .chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n))),
        ([size1, size2]) => {
          const isPow2 = 2 ** Math.round(Math.log2(size1)) === size1;
          assertPartition(consistencyProofNodes(size1, size2), size2, isPow2 ? [[0, size1]] : []);
        },
      ),
    );
  });
});

describe('consistency proofs', () => {
  test('consistencyProofNodes() asks only for complete subtrees, e.g. 3 to 7', () => {
    assert.deepEqual(consistencyProofNodes(3, 7), [
      { level: 0, index: 2 },
      { level: 0, index: 3 },
      { level: 1, index: 0 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    assert.deepEqual(consistencyProofNodes(4, 4), []);
  });

  test('consistencyProof() rejects size1 of 0 or above size2', () => {
    const none = () => Buffer.alloc(32);
    assert.throws(
      () => consistencyProof(0, 3, none),
      (e) => e instanceof LedgerError && e.code === 'PROOF_INVALID',
    );
    assert.throws(() => consistencyProof(4, 3, none), LedgerError);
  });

  test('verifyConsistency() accepts every generated proof and rejects every mutation', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 2000 })
          .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n), fc.nat())),
        ([size1, size2, seed]) => {
          const leaves = leavesOf(size2, seed);
          const root1 = rootOf(leaves.slice(0, size1));
          const root2 = rootOf(leaves);
          const proof = consistencyProof(size1, size2, nodeOf(leaves));
          assert.ok(verifyConsistency(size1, size2, proof, root1, root2));
          assert.ok(verifyConsistency(BigInt(size1), BigInt(size2), proof, root1, root2));
          if (size1 === size2) return;
          assert.ok(!verifyConsistency(size1, size2, proof, root2, root1), 'swapped roots');
          for (let at = 0; at < proof.length; at++) {
            assert.ok(!verifyConsistency(size1, size2, flipBit(proof, at, seed % 256), root1, root2), 'bit flip');
          }
          for (const [m, n] of [
            [size1 - 1, size2],
            [size1 + 1, size2],
            [size1, size2 + 1],
            [size1, size2 - 1],
            [size1, size2 * 2],
          ] as const) {
            if (!differsConsistency(m, n, proof.length)) continue;
            assert.ok(!verifyConsistency(m, n, proof, root1, root2), `sizes ${m}, ${n}`);
          }
          assert.ok(!verifyConsistency(size1, size2, proof.slice(1), root1, root2), 'truncated');
          assert.ok(!verifyConsistency(size1, size2, proof.slice(0, -1), root1, root2), 'cut end');
          assert.ok(!verifyConsistency(size1, size2, [...proof, root1], root1, root2), 'extended');
          assert.ok(!verifyConsistency(size1, size2, [root1, ...proof], root1, root2), 'preceded');
          assert.ok(!verifyConsistency(size1, size2, [], root1, root2), 'empty');
        },
      ),
      { numRuns: 150 },
    );
  });

  test('verifyConsistency() rejects size1 of 0 even between empty trees', () => {
    const empty = rootOf([]);
    assert.ok(!verifyConsistency(0, 0, [], empty, empty));
    assert.ok(!verifyConsistency(0, 1, [], empty, leafHash(Buffer.alloc(0))));
  });
});
