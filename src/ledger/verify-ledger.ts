import type { KeyObject } from 'node:crypto';
import { openCheckpoint } from './checkpoint.ts';
import { createLeafHasher } from './leaf-hasher.ts';
import type { LedgerProblem, LedgerReport } from './ledger-report.ts';
import type { CheckpointRow, LedgerStore } from './ledger-store.ts';
import { EMPTY_ROOT } from './merkle.ts';
import { consistencyProof, consistencyProofNodes, verifyConsistency } from './proof.ts';
import type { TileReader } from './tile-reader.ts';
import { TILE_WIDTH } from './tiles.ts';
import { createTreeAudit } from './tree-audit.ts';

/** The last tree head a client saw: `{ size, root }`, or the signed checkpoint note itself. */
export type PreviousCheckpoint = { size: number; root: Uint8Array } | string;

const TILES_PER_READ = 16; // 4,096 leaves per query
const CHECKPOINTS_PER_READ = 1000;

/**
 * Recomputes the whole tree from `ledger_leaves` and checks it against every stored tile, every signed
 * checkpoint (signature, root at its size, the chain of sizes) and, when given, the tree head a client saw
 * before. Streams: memory stays flat whatever the size.
 */
export async function verifyLedger(options: {
  store: LedgerStore;
  publicKey: KeyObject;
  origin: string;
  previous?: PreviousCheckpoint;
  signal?: AbortSignal;
}): Promise<LedgerReport> {
  const { store, signal } = options;
  const audit = createTreeAudit(options);
  const { size } = await store.state();
  if (options.previous !== undefined) {
    const seen = openPrevious(options.previous, options);
    if ('kind' in seen) audit.problem(seen);
    else audit.expectRoot(seen.size, seen.root);
  }

  let after = -1;
  let buffered: CheckpointRow[] = [];
  let exhausted = false;
  const checkpointsUpTo = async (limit: number): Promise<void> => {
    for (;;) {
      while (buffered.length > 0 && buffered[0]!.size <= limit) {
        const c = buffered.shift()!;
        audit.checkpoint({ size: c.size, note: c.note, root: c.root, previous: c.previous });
      }
      if (buffered.length > 0 || exhausted) return;
      buffered = await store.checkpoints(after, CHECKPOINTS_PER_READ);
      exhausted = buffered.length < CHECKPOINTS_PER_READ;
      after = buffered[buffered.length - 1]?.size ?? after;
    }
  };
  const storedTiles = async (keys: Array<{ level: number; index: number }>): Promise<void> => {
    if (keys.length === 0) return;
    const found = await store.tiles(keys);
    for (const t of found) audit.storedTile(t);
    for (const k of keys) {
      if (!found.some((t) => t.level === k.level && t.index === k.index)) audit.absentTile(k.level, k.index);
    }
  };

  await checkpointsUpTo(0);
  const tiles = Math.ceil(size / TILE_WIDTH);
  // Three stages overlap: the database reads chunk i+1, a worker hashes the leaves of chunk i, and this
  // thread builds the tree over chunk i-1.
  const read = (first: number) => {
    const last = Math.min(first + TILES_PER_READ, tiles);
    return Promise.all([
      store.leaves(first * TILE_WIDTH, Math.min(last * TILE_WIDTH, size)),
      store.tileRange(0, first, last),
    ]).then(([rows, stored]) => ({ first, last, rows, stored, hashes: hasher.hash(rows.map((r) => r.body)) }));
  };
  type Chunk = Awaited<ReturnType<typeof read>>;
  const build = async ({ first, last, rows, stored, hashes }: Chunk): Promise<void> => {
    const leafHashes = (await hashes).hashes;
    let r = 0;
    for (let t = first; t < last; t++) {
      const start = t * TILE_WIDTH;
      const tile: Array<Buffer | null> = new Array(Math.min(TILE_WIDTH, size - start)).fill(null);
      for (; r < rows.length && rows[r]!.idx < start + tile.length; r++) tile[rows[r]!.idx - start] = leafHashes[r]!;
      await checkpointsUpTo(start + tile.length);
      audit.leaves(t, tile, stored.find((s) => s.index === t) ?? null);
    }
    await storedTiles(audit.awaiting());
  };
  const hasher = createLeafHasher();
  try {
    let previous: Chunk | null = null;
    let reading = tiles > 0 ? read(0) : null;
    while (reading !== null) {
      signal?.throwIfAborted();
      const chunk: Chunk = await reading;
      reading = chunk.last < tiles ? read(chunk.last) : null;
      if (previous !== null) await build(previous);
      previous = chunk;
    }
    if (previous !== null) await build(previous);
  } finally {
    await hasher.close();
  }
  await checkpointsUpTo(size);
  await storedTiles(audit.edge().filter((e) => e.level > 0));
  audit.closeTiles();
  // Rows past the tree: compare with the size now, since the sequencer may have appended meanwhile.
  const outside = await store.leavesOutside(Math.max(size, (await store.state()).size));
  if (outside.count > 0 && outside.first !== null) {
    audit.problem({
      kind: 'leaf-extra',
      index: outside.first,
      message: `${outside.count} leaf row(s) lie outside the tree of ${size}, the first at index ${outside.first}`,
    });
  }
  return audit.finish();
}

function openPrevious(previous: PreviousCheckpoint, key: { publicKey: KeyObject; origin: string }) {
  if (typeof previous !== 'string') return previous;
  try {
    return openCheckpoint(previous, key.publicKey, key.origin);
  } catch (err) {
    const problem: LedgerProblem = {
      kind: 'checkpoint-signature',
      message: `the checkpoint seen before does not verify: ${(err as Error).message}`,
    };
    return problem;
  }
}

export interface ConsistencyCheck {
  ok: boolean;
  from: number;
  to: number;
  /** The RFC 9162 consistency proof from `from` to `to` (empty when the sizes are equal). */
  proof: Buffer[];
  problem?: LedgerProblem;
}

/** Proves that the tree head a client saw before is a prefix of the current signed one (no history rewritten). */
export async function checkConsistencyWith(
  ctx: { store: LedgerStore; reader: TileReader; publicKey: KeyObject; origin: string },
  previous: PreviousCheckpoint,
): Promise<ConsistencyCheck> {
  const current = await ctx.store.latestCheckpoint();
  const to = current?.size ?? 0;
  const seen = openPrevious(previous, ctx);
  if ('kind' in seen) return { ok: false, from: 0, to, proof: [], problem: seen };
  const fork = (message: string): ConsistencyCheck => ({
    ok: false,
    from: seen.size,
    to,
    proof: [],
    problem: { kind: 'fork', size: seen.size, message },
  });
  if (current === null || seen.size > to)
    return fork(`the ledger has ${to} entries, fewer than the ${seen.size} seen before`);
  const root = Buffer.from(current.root);
  if (seen.size === to || seen.size === 0) {
    const same = Buffer.from(seen.size === 0 ? EMPTY_ROOT : root).equals(seen.root);
    return same ? { ok: true, from: seen.size, to, proof: [] } : fork(`the root at size ${seen.size} changed`);
  }
  const proof = consistencyProof(seen.size, to, await ctx.reader.nodes(consistencyProofNodes(seen.size, to)));
  if (!verifyConsistency(seen.size, to, proof, seen.root, root)) {
    return fork(`the tree of ${seen.size} seen before is not a prefix of the current tree of ${to}`);
  }
  return { ok: true, from: seen.size, to, proof };
}
