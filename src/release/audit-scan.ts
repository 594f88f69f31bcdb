import { setImmediate as nextTurn } from 'node:timers/promises';
import { createTreeBuilder, type Ledger, TILE_WIDTH } from '../ledger/index.ts';
import { type AuditFacts, describeLeaf } from './audit-leaf.ts';
import { type AuditRow, missingRow } from './audit-row.ts';

export interface LedgerScanInput {
  ledger: Ledger;
  /** The checkpoint's tree: only its leaves are read. */
  size: number;
  root: Uint8Array;
  /** Leaves the filters select. */
  wanted: (facts: AuditFacts) => boolean;
  since?: Date;
  maxRows: number;
  prove: (index: number, body: Uint8Array, extra?: { problem?: string }) => Promise<AuditRow>;
  signal?: AbortSignal;
}

export interface LedgerScan {
  rows: AuditRow[];
  scanned: number;
  matched: number;
  omitted: number;
  /** Digests promoted or approved in the selected rows. */
  promoted: Set<string>;
  /** Pipeline digest → index of its latest `pipeline.applied` leaf. */
  pipelines: Map<string, number>;
  /** The `pipeline.applied` leaf in force when the window opens. */
  pipelineAtStart: number | null;
  leavesMatchRoot: boolean;
}

const PAGE = 4 * TILE_WIDTH;
const ALTERED = 'the leaf differs from the hash the tree holds for it: it was altered after it was logged';
const UNHASHED = 'the tree holds no hash for this leaf (its tile is missing): the log was damaged';

/**
 * One pass over the leaves [0, size) a page at a time, keeping only selected rows. Every leaf is hashed into
 * a tree whose root must be the checkpoint's, and compared with the hash the stored tree holds for it, so a
 * leaf altered outside the filters still shows up, flagged.
 */
export async function scanLedger(input: LedgerScanInput): Promise<LedgerScan> {
  const { ledger, size, signal } = input;
  const since = input.since?.getTime();
  const tree = createTreeBuilder();
  const scan: LedgerScan = {
    rows: [],
    scanned: 0,
    matched: 0,
    omitted: 0,
    promoted: new Set(),
    pipelines: new Map(),
    pipelineAtStart: null,
    leavesMatchRoot: true,
  };
  for (let start = 0; start < size; start += PAGE) {
    // node:sqlite answers synchronously: without a turn of the event loop per page a long scan would starve
    // every other request (and never see its own abort).
    await nextTurn();
    signal?.throwIfAborted();
    const end = Math.min(start + PAGE, size);
    const [leaves, stored] = await Promise.all([ledger.entries(start, end), storedHashes(ledger, start, end, size)]);
    let next = start;
    const missing = (until: number) => {
      for (; next < until; next++) {
        tree.push(Buffer.alloc(32));
        scan.rows.push(missingRow(next, size, input.root));
      }
    };
    for (const leaf of leaves) {
      missing(leaf.index);
      next = leaf.index + 1;
      scan.scanned++;
      tree.push(leaf.leafHash);
      const expected = stored(leaf.index);
      const problem = expected === null ? UNHASHED : expected.equals(leaf.leafHash) ? undefined : ALTERED;
      const facts = describeLeaf(leaf.body);
      if (facts.event === 'pipeline.applied' && facts.pipelineDigest !== undefined) {
        scan.pipelines.set(facts.pipelineDigest, leaf.index);
        if (since !== undefined && Date.parse(facts.time) < since) scan.pipelineAtStart = leaf.index;
      }
      const wanted = input.wanted(facts);
      if (wanted) scan.matched++;
      if (problem === undefined && (!wanted || scan.rows.length >= input.maxRows)) {
        if (wanted) scan.omitted++;
        continue;
      }
      const row = await input.prove(leaf.index, leaf.body, problem === undefined ? {} : { problem });
      scan.rows.push(row);
      const digest = facts.digests[0];
      if (wanted && digest !== undefined && (facts.event === 'promotion' || facts.event === 'approval'))
        scan.promoted.add(digest);
    }
    missing(end);
  }
  scan.leavesMatchRoot = tree.size === size && tree.root().equals(input.root);
  return scan;
}

// The leaf hashes the stored tree holds (its level-0 tiles) for [start, end); null for a missing tile.
async function storedHashes(
  ledger: Ledger,
  start: number,
  end: number,
  size: number,
): Promise<(index: number) => Buffer | null> {
  const tiles = new Map<number, Buffer | null>();
  for (let t = Math.floor(start / TILE_WIDTH); t * TILE_WIDTH < end; t++) {
    tiles.set(t, await ledger.tile(0, t, Math.min(TILE_WIDTH, size - t * TILE_WIDTH)));
  }
  return (index) => {
    const tile = tiles.get(Math.floor(index / TILE_WIDTH)) ?? null;
    const at = (index % TILE_WIDTH) * 32;
    return tile === null ? null : tile.subarray(at, at + 32);
  };
}
