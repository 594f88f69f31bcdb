import { hash } from 'node:crypto';
import { LedgerError } from './ledger-error.ts';

// RFC 9162 §2.1.1 hashing. `crypto.hash` over a reused scratch buffer is ~2.5× faster than createHash with
// separate updates (measured on Node 24), which is what keeps a full tree recompute near the raw hashing cost.

/** SHA-256 of the empty string: the root of a tree with no leaves. */
export const EMPTY_ROOT: Buffer = hash('sha256', '', 'buffer');

let leafScratch = Buffer.alloc(1024);
const ONE = Buffer.from([0x01]);
const nodeScratch = Buffer.alloc(65);
nodeScratch[0] = 0x01;

/** SHA-256(0x00 || entry): the hash of a leaf. */
export function leafHash(entry: Uint8Array): Buffer {
  if (entry.length + 1 > leafScratch.length) leafScratch = Buffer.alloc(2 ** Math.ceil(Math.log2(entry.length + 1)));
  leafScratch[0] = 0x00;
  leafScratch.set(entry, 1);
  return hash('sha256', leafScratch.subarray(0, entry.length + 1), 'buffer');
}

/** SHA-256(0x01 || left || right): the hash of an interior node (children are 32-byte hashes in every tree). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== 32 || right.length !== 32) return hash('sha256', Buffer.concat([ONE, left, right]), 'buffer');
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 33);
  return hash('sha256', nodeScratch, 'buffer');
}

/** MTH(D[n]) straight from the RFC's recursive definition; meant for small trees and tests. */
export function rootOf(leafHashes: readonly Uint8Array[]): Buffer {
  const mth = (from: number, to: number): Buffer => {
    const n = to - from;
    if (n === 1) return Buffer.from(leafHashes[from]!);
    let k = 1;
    while (k * 2 < n) k *= 2;
    return nodeHash(mth(from, from + k), mth(from + k, to));
  };
  return leafHashes.length === 0 ? Buffer.from(EMPTY_ROOT) : mth(0, leafHashes.length);
}

export interface TreeBuilder {
  /** Appends one leaf hash; `onNode` sees every complete aligned subtree this leaf completes (level 0 first). */
  push(leafHash: Uint8Array, onNode?: (level: number, index: number, hash: Buffer) => void): void;
  readonly size: number;
  /** The root of the tree so far (EMPTY_ROOT when empty). */
  root(): Buffer;
  /** The compact range: roots of the perfect subtrees making up the tree, largest (leftmost) first. */
  frontier(): Buffer[];
}

/**
 * An incremental Merkle tree that keeps only its compact range (one hash per set bit of the size), so a tree
 * of any size streams through O(log n) memory; resume it from a saved `{ size, frontier }`.
 */
export function createTreeBuilder(initial?: { size: number; frontier: readonly Uint8Array[] }): TreeBuilder {
  let size = initial?.size ?? 0;
  const stack: Buffer[] = (initial?.frontier ?? []).map((h) => Buffer.from(h));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new LedgerError('FRONTIER_INVALID', `Cannot resume tree: size ${size} is not a non-negative integer`);
  }
  if (stack.length !== popcount(size) || stack.some((h) => h.length !== 32)) {
    throw new LedgerError(
      'FRONTIER_INVALID',
      `Cannot resume tree: size ${size} needs ${popcount(size)} 32-byte hashes`,
    );
  }
  return {
    push(leaf, onNode) {
      if (leaf.length !== 32) throw new LedgerError('HASH_INVALID', 'Cannot append leaf: its hash is not 32 bytes');
      // Copy: the hash may sit in the frontier for a long time and the caller may reuse its array.
      let h: Buffer = Buffer.from(leaf);
      let index = size;
      let level = 0;
      onNode?.(0, index, h);
      // Each trailing 1 bit of the old size is a left sibling waiting for this subtree.
      while (index % 2 === 1) {
        h = nodeHash(stack.pop()!, h);
        index = (index - 1) / 2;
        level++;
        onNode?.(level, index, h);
      }
      stack.push(h);
      size++;
    },
    get size() {
      return size;
    },
    root() {
      if (stack.length === 0) return Buffer.from(EMPTY_ROOT);
      let r = stack[stack.length - 1]!;
      for (let i = stack.length - 2; i >= 0; i--) r = nodeHash(stack[i]!, r);
      return Buffer.from(r);
    },
    frontier() {
      return stack.map((h) => Buffer.from(h));
    },
  };
}

/** Number of 1 bits, for sizes beyond 32 bits too. */
export function popcount(n: number): number {
  let count = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) count += x % 2;
  return count;
}
