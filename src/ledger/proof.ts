import { LedgerError } from './ledger-error.ts';
import { nodeHash } from './merkle.ts';

/** A complete aligned subtree: the leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  level: number;
  index: number;
}

type Index = number | bigint;

/** The complete subtrees whose hashes make up PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf side first. */
export function inclusionProofNodes(index: number, size: number): NodeId[] {
  return inclusionGroups(index, size).flat();
}

/** PATH(index, D[size]); `node` is asked only for the ids `inclusionProofNodes` returns. */
export function inclusionProof(index: number, size: number, node: (id: NodeId) => Uint8Array): Buffer[] {
  return inclusionGroups(index, size).map((group) => composeRange(group, node));
}

/** The complete subtrees whose hashes make up PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1), leaf side first. */
export function consistencyProofNodes(size1: number, size2: number): NodeId[] {
  return consistencyGroups(size1, size2).flat();
}

/** PROOF(size1, D[size2]); `node` is asked only for the ids `consistencyProofNodes` returns. */
export function consistencyProof(size1: number, size2: number, node: (id: NodeId) => Uint8Array): Buffer[] {
  return consistencyGroups(size1, size2).map((group) => composeRange(group, node));
}

// Each proof element is the MTH of a range; ranges on the right edge of the tree are not complete subtrees, so
// each element is a group of complete subtrees (largest first) that composeRange folds back into one hash.
function inclusionGroups(index: number, size: number): NodeId[][] {
  checkSize(size, 1);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new LedgerError('PROOF_INVALID', `Cannot build inclusion proof: index ${index} is outside a tree of ${size}`);
  }
  const groups: NodeId[][] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = largestPowerOfTwoBelow(hi - lo);
    if (index < lo + k) {
      groups.push(rangeNodes(lo + k, hi));
      hi = lo + k;
    } else {
      groups.push(rangeNodes(lo, lo + k));
      lo += k;
    }
  }
  return groups.reverse();
}

function consistencyGroups(size1: number, size2: number): NodeId[][] {
  checkSize(size2, 1);
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > size2) {
    throw new LedgerError('PROOF_INVALID', `Cannot build consistency proof: size ${size1} is not in 1..${size2}`);
  }
  const groups: NodeId[][] = [];
  let m = size1;
  let lo = 0;
  let hi = size2;
  let isOldRoot = true; // SUBPROOF's b: the old tree's root is known to the verifier, so it is left out
  while (m !== hi - lo) {
    const k = largestPowerOfTwoBelow(hi - lo);
    if (m <= k) {
      groups.push(rangeNodes(lo + k, hi));
      hi = lo + k;
    } else {
      groups.push(rangeNodes(lo, lo + k));
      m -= k;
      lo += k;
      isOldRoot = false;
    }
  }
  if (!isOldRoot) groups.push(rangeNodes(lo, hi));
  return groups.reverse();
}

/** Splits the leaves [from, to) into complete aligned subtrees, largest first. */
export function rangeNodes(from: number, to: number): NodeId[] {
  const nodes: NodeId[] = [];
  while (from < to) {
    let width = 1;
    let level = 0;
    while (from % (width * 2) === 0 && from + width * 2 <= to) {
      width *= 2;
      level++;
    }
    nodes.push({ level, index: from / width });
    from += width;
  }
  return nodes;
}

function composeRange(group: NodeId[], node: (id: NodeId) => Uint8Array): Buffer {
  let h: Buffer = Buffer.from(node(group[group.length - 1]!));
  for (let i = group.length - 2; i >= 0; i--) h = nodeHash(node(group[i]!), h);
  return h;
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function checkSize(size: number, min: number): void {
  if (!Number.isSafeInteger(size) || size < min) {
    throw new LedgerError('TREE_SIZE_INVALID', `Cannot build proof: tree size ${size} is not an integer >= ${min}`);
  }
}

const is32 = (h: Uint8Array): boolean => h.length === 32;
const toBigInt = (x: Index): bigint | undefined =>
  typeof x === 'bigint' ? x : Number.isSafeInteger(x) ? BigInt(x) : undefined;

/** RFC 9162 §2.1.3.2: does `proof` show the leaf at `index` is in the tree of `size` with `root`? */
export function verifyInclusion(
  index: Index,
  size: Index,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const i = toBigInt(index);
  const s = toBigInt(size);
  if (i === undefined || s === undefined) return false;
  let fn = i;
  let sn = s - 1n;
  if (fn < 0n || fn > sn || !is32(leafHash) || !is32(root) || !proof.every(is32)) return false;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      // On the right edge a missing sibling means the level is skipped, not hashed.
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && r.equals(root);
}

/** RFC 9162 §2.1.4.2 with transparency-dev strictness: size1 must be at least 1, every hash 32 bytes. */
export function verifyConsistency(
  size1: Index,
  size2: Index,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  const m = toBigInt(size1);
  const n = toBigInt(size2);
  if (m === undefined || n === undefined) return false;
  if (m < 1n || m > n) return false;
  // Equal sizes compare the roots as given (transparency-dev accepts any bytes there).
  if (m === n) return proof.length === 0 && Buffer.from(root1).equals(root2);
  if (proof.length === 0 || !is32(root1) || !is32(root2) || !proof.every(is32)) return false;
  // When size1 is a power of two the old root is itself a node of the new tree, so the proof omits it.
  const path = (m & (m - 1n)) === 0n ? [root1, ...proof] : [...proof];
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return fr.equals(root1) && sr.equals(root2) && sn === 0n;
}
