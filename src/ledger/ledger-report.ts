/** What a verification found wrong, each naming the leaf index, tile or checkpoint size it is about. */
export type LedgerProblemKind =
  /** A leaf's bytes are not the ones whose hash the tree recorded and a signed checkpoint covers. */
  | 'leaf-altered'
  /** An index below the tree size has no leaf. */
  | 'leaf-missing'
  /** A leaf sits at or beyond the tree size (or below 0). */
  | 'leaf-extra'
  /** A stored tile hash differs from the one recomputed from leaves that the signed checkpoints confirm. */
  | 'tile-altered'
  | 'tile-missing'
  /** A checkpoint note does not verify with the ledger key, or does not say what its row says. */
  | 'checkpoint-signature'
  /** A validly signed root is not the root of the leaves at its size (and no later checkpoint contradicts it). */
  | 'checkpoint-root'
  | 'checkpoint-missing'
  /** Two validly signed checkpoints that cannot both be true: same size with different roots, or not consistent. */
  | 'fork'
  /** The archive itself is malformed (unreadable member, unexpected name, out of order). */
  | 'archive-invalid';

export interface LedgerProblem {
  kind: LedgerProblemKind;
  /** The leaf index the problem is about (the first leaf a tile node covers, for tiles). */
  index?: number;
  /** The checkpoint size the problem is about. */
  size?: number;
  /** For tiles: the tile level. */
  level?: number;
  message: string;
}

/** The result of a full verification, JSON-ready (hashes in base64). */
export interface LedgerReport {
  ok: boolean;
  /** The tree size verified. */
  size: number;
  /** The root recomputed from the leaves. */
  rootHash: string;
  /** How many signed checkpoints were checked. */
  checkpoints: number;
  /** The newest checkpoint whose signature verified (whether or not its root matched). */
  latest: { size: number; rootHash: string; note: string } | null;
  /** The lowest index any problem names. */
  firstBadIndex?: number;
  /** At most 20 problems of each kind, lowest index first; `problemCount` has them all. */
  problems: LedgerProblem[];
  problemCount: number;
}

const PER_KIND = 20;

/** Collects problems, keeping the first few of each kind and counting the rest. */
export function createProblemLog() {
  const kept = new Map<LedgerProblemKind, LedgerProblem[]>();
  const counts = new Map<LedgerProblemKind, number>();
  return {
    add(problem: LedgerProblem): void {
      const n = (counts.get(problem.kind) ?? 0) + 1;
      counts.set(problem.kind, n);
      if (n <= PER_KIND) kept.set(problem.kind, [...(kept.get(problem.kind) ?? []), problem]);
    },
    count: (kind: LedgerProblemKind): number => counts.get(kind) ?? 0,
    list(): LedgerProblem[] {
      const out: LedgerProblem[] = [];
      for (const [kind, problems] of kept) {
        const more = (counts.get(kind) ?? 0) - problems.length;
        out.push(
          ...problems.map((p, i) =>
            more > 0 && i === problems.length - 1 ? { ...p, message: `${p.message} (and ${more} more ${kind})` } : p,
          ),
        );
      }
      const at = (p: LedgerProblem) => p.index ?? p.size ?? Number.MAX_SAFE_INTEGER;
      return out.sort((a, b) => at(a) - at(b));
    },
    total: (): number => [...counts.values()].reduce((a, b) => a + b, 0),
  };
}
