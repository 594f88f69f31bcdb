import type { createProblemLog, LedgerReport } from './ledger-report.ts';
import { TILE_WIDTH } from './tiles.ts';

/** A stored tile node that differs from the one recomputed: it covers leaves [from, to). */
export interface NodeMismatch {
  from: number;
  to: number;
  /** Tree level of the node. */
  level: number;
  tileLevel: number;
}

/** What a tree audit saw, for the verdict. */
export interface AuditFindings {
  size: number;
  root: Buffer;
  checked: number;
  latest: { size: number; root: Buffer; note: string } | null;
  /** Checkpoints (or a client's tree head) for sizes the leaves never reached. */
  unreached: ReadonlyArray<{ size: number; client?: boolean }>;
  /** Leaves whose hash differs from their level-0 tile: the leaf or the tile changed. */
  suspects: readonly number[];
  missing: readonly number[];
  nodeMismatches: readonly NodeMismatch[];
  /** Sizes of validly signed checkpoints whose root is not the leaves' root at that size. */
  rootMismatches: readonly number[];
  /** The largest size at which a validly signed root matched the leaves (-1 if none). */
  lastMatch: number;
}

/**
 * Decides what changed. Leaves below the largest checkpoint that matches them are as signed, so a mismatch
 * there is the tile's; above it, the leaf's. Tile nodes over a changed leaf, and checkpoints after it,
 * differ because of that leaf and are not reported again. A signed root that is contradicted by a later
 * matching one is a fork.
 */
export function auditVerdict(f: AuditFindings, log: ReturnType<typeof createProblemLog>): LedgerReport {
  const { size, lastMatch } = f;
  for (const p of f.unreached) {
    const seen = p.client === true ? 'a checkpoint seen before' : `checkpoint ${p.size}`;
    log.add({
      kind: p.client === true ? 'fork' : 'leaf-missing',
      index: size,
      size: p.size,
      message: `${seen} covers ${p.size} leaves; only ${size} are there`,
    });
  }
  if (f.latest === null || f.latest.size < size) {
    log.add({ kind: 'checkpoint-missing', size, message: `no valid signed checkpoint covers the ${size} leaves` });
  }
  const bad: number[] = [...f.missing];
  for (const i of f.suspects) {
    if (i < lastMatch) {
      log.add({
        kind: 'tile-altered',
        level: 0,
        index: i,
        message: `tile 0/${Math.floor(i / TILE_WIDTH)} holds the wrong hash for leaf ${i}`,
      });
    } else {
      bad.push(i);
      log.add({ kind: 'leaf-altered', index: i, message: `leaf ${i} is not the leaf the tree recorded` });
    }
  }
  const explained = (from: number, to: number) => bad.some((i) => i >= from && i < to);
  for (const n of f.nodeMismatches) {
    if (n.to <= lastMatch || !explained(n.from, n.to)) {
      log.add({
        kind: 'tile-altered',
        level: n.tileLevel,
        index: n.from,
        message: `a tile node over leaves ${n.from}..${n.to - 1} (tree level ${n.level}) is wrong`,
      });
    }
  }
  for (const s of f.rootMismatches) {
    if (s < lastMatch) {
      log.add({
        kind: 'fork',
        size: s,
        message: `checkpoint ${s} contradicts checkpoint ${lastMatch}, which matches the leaves`,
      });
    } else if (!explained(0, s)) {
      const from = Math.max(lastMatch, 0);
      log.add({
        kind: 'checkpoint-root',
        size: s,
        index: from,
        message: `the leaves in ${from}..${s - 1} are not the ones checkpoint ${s} signed`,
      });
      break; // the later ones fail for the same reason
    }
  }
  const problems = log.list();
  const indices = problems.flatMap((p) => (p.index === undefined ? [] : [p.index]));
  const latest = f.latest;
  return {
    ok: problems.length === 0,
    size,
    rootHash: f.root.toString('base64'),
    checkpoints: f.checked,
    latest: latest === null ? null : { size: latest.size, rootHash: latest.root.toString('base64'), note: latest.note },
    ...(indices.length === 0 ? {} : { firstBadIndex: Math.min(...indices) }),
    problems,
    problemCount: log.total(),
  };
}
