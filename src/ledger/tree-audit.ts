import type { KeyObject } from 'node:crypto';
import { auditVerdict, type NodeMismatch } from './audit-verdict.ts';
import { checkpointVerifier, parseCheckpoint } from './checkpoint.ts';
import { createProblemLog, type LedgerProblem, type LedgerReport } from './ledger-report.ts';
import { createTreeBuilder } from './merkle.ts';
import { verifyNote } from './note.ts';
import { interiorLength, interiorStart } from './stored-tile.ts';
import { TILE_HEIGHT, TILE_WIDTH } from './tiles.ts';

/** A tile as a verifier reads it; `interior` is null where the source has none (an exported archive). */
export interface AuditTile {
  level: number;
  index: number;
  hashes: Uint8Array;
  interior: Uint8Array | null;
}

/** A checkpoint as a verifier reads it; `root` and `previous` are the store's columns beside the note. */
export interface AuditCheckpoint {
  size: number;
  note: string;
  root?: Uint8Array;
  previous?: number | null;
}

const KEEP = 1000; // mismatches remembered for telling a changed leaf from a changed tile
const ZERO = Buffer.alloc(32);
const view = (bytes: Uint8Array, from: number, length: number) =>
  Buffer.from(bytes.buffer, bytes.byteOffset + from, length);
// A recomputed tile: hashes copied into flat buffers laid out as a full tile's (no object per node).
type Building = { level: number; index: number; hashes: Buffer; interior: Buffer; counts: number[] };
const FULL_START = Array.from({ length: TILE_HEIGHT }, (_, k) => interiorStart(TILE_WIDTH, k));
const FULL_INTERIOR = interiorLength(TILE_WIDTH);
const key = (level: number, index: number) => `${level}/${index}`;

/**
 * Recomputes the tree from the leaves as a stream (O(log n) memory plus the tiles being compared) and checks
 * it against the stored tiles and every signed checkpoint. Where a leaf hash and its tile disagree, the
 * signed checkpoints decide which one changed: a leaf below a checkpoint whose root matches the leaves is
 * authentic, so its tile was altered; otherwise the leaf was.
 */
export function createTreeAudit(ledgerKey: { publicKey: KeyObject; origin: string }) {
  const builder = createTreeBuilder();
  const verifier = checkpointVerifier(ledgerKey.publicKey, ledgerKey.origin);
  const log = createProblemLog();
  const building = new Map<number, Building>();
  const awaitingStored = new Map<string, Building>();
  const storedEarly = new Map<string, AuditTile>();
  const absent = new Set<string>();
  const pending: Array<{ size: number; root: Buffer; client?: boolean }> = [];
  const suspects: number[] = [];
  const missing: number[] = [];
  const nodeMismatches: NodeMismatch[] = [];
  const rootMismatches: number[] = [];
  let lastMatch = -1;
  let checked = 0;
  let currentL0: { tile: number; stored: AuditTile | null } | null = null;
  let priorSize = -1;
  let prior: { size: number; root: Buffer } | null = null;
  let latest: { size: number; root: Buffer; note: string } | null = null;

  const onNode = (level: number, index: number, hash: Buffer): void => {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const k = level % TILE_HEIGHT;
    const tileIndex = Math.floor(index / (TILE_WIDTH >> k));
    let t = building.get(tileLevel);
    if (t === undefined || t.index !== tileIndex) {
      const counts = new Array<number>(TILE_HEIGHT).fill(0);
      t = {
        level: tileLevel,
        index: tileIndex,
        hashes: Buffer.alloc(TILE_WIDTH * 32),
        interior: Buffer.alloc(FULL_INTERIOR),
        counts,
      };
      building.set(tileLevel, t);
    }
    const n = t.counts[k]!++;
    hash.copy(k === 0 ? t.hashes : t.interior, (k === 0 ? n : FULL_START[k]! + n) * 32);
    if (k === TILE_HEIGHT - 1 && n === 1) complete(t);
  };

  function complete(t: Building): void {
    const id = key(t.level, t.index);
    const stored = storedEarly.get(id);
    if (absent.delete(id)) return;
    if (stored === undefined) awaitingStored.set(id, t);
    else {
      storedEarly.delete(id);
      compareTile(t, stored);
    }
  }

  function nodeMismatch(level: number, index: number, tileLevel: number): void {
    if (nodeMismatches.length < KEEP) {
      nodeMismatches.push({ from: index * 2 ** level, to: (index + 1) * 2 ** level, level, tileLevel });
    }
  }

  // Level-0 hashes were compared leaf by leaf already; here the rest of the tile, a row at a time, and
  // hash by hash only where a row differs.
  function compareTile(t: Building, stored: AuditTile): void {
    const width = t.counts[0]!;
    const storedWidth = stored.hashes.length / 32;
    if (!Number.isInteger(storedWidth) || storedWidth < width) {
      log.add({
        kind: 'tile-altered',
        level: t.level,
        index: t.index * TILE_WIDTH * TILE_WIDTH ** t.level,
        message: `tile ${key(t.level, t.index)} holds ${stored.hashes.length} bytes, not ${width} hashes`,
      });
      return;
    }
    const row = (k: number, ours: Buffer, from: number, theirs: Uint8Array, at: number, n: number) => {
      if (ours.compare(theirs, at * 32, (at + n) * 32, from * 32, (from + n) * 32) === 0) return;
      for (let o = 0; o < n; o++) {
        if (ours.compare(theirs, (at + o) * 32, (at + o + 1) * 32, (from + o) * 32, (from + o + 1) * 32) !== 0) {
          nodeMismatch(t.level * TILE_HEIGHT + k, t.index * (TILE_WIDTH >> k) + o, t.level);
        }
      }
    };
    if (t.level > 0) row(0, t.hashes, 0, stored.hashes, 0, width);
    if (stored.interior === null) return;
    if (stored.interior.length !== interiorLength(storedWidth)) {
      nodeMismatch(t.level * TILE_HEIGHT + 1, t.index * (TILE_WIDTH >> 1), t.level);
      return;
    }
    for (let k = 1; k < TILE_HEIGHT; k++) {
      row(k, t.interior, FULL_START[k]!, stored.interior, interiorStart(storedWidth, k), t.counts[k]!);
    }
  }

  function checkRoots(): void {
    while (pending.length > 0 && pending[0]!.size === builder.size) {
      const cp = pending.shift()!;
      if (cp.client === true) {
        if (!cp.root.equals(builder.root())) {
          log.add({
            kind: 'fork',
            size: cp.size,
            message: `the checkpoint of size ${cp.size} seen before has another root`,
          });
        }
      } else if (cp.root.equals(builder.root())) lastMatch = cp.size;
      else if (rootMismatches.length < KEEP) rootMismatches.push(cp.size);
    }
  }

  return {
    get size() {
      return builder.size;
    },
    /** Whether a signed checkpoint of `size` matched the leaves (the latest one that did, exactly). */
    matched(size: number): boolean {
      return lastMatch === size;
    },
    /** The root of the leaves given so far. */
    root(): Buffer {
      return builder.root();
    },
    /**
     * The leaf hashes of level-0 tile `tile` in order (null where a leaf is missing) and the stored tile. `from`
     * continues a tile given in part before (an archive whose bundle was cut short).
     */
    leaves(tile: number, hashes: ReadonlyArray<Buffer | null>, stored: AuditTile | null, from = 0): void {
      if (tile * TILE_WIDTH + from !== builder.size) {
        log.add({
          kind: 'archive-invalid',
          index: tile * TILE_WIDTH + from,
          message: `leaves from ${tile * TILE_WIDTH + from} came out of order`,
        });
        return;
      }
      if (from === 0) {
        currentL0 = { tile, stored };
        if (stored === null) {
          absent.add(key(0, tile));
          log.add({ kind: 'tile-missing', level: 0, index: tile * TILE_WIDTH, message: `tile 0/${tile} is missing` });
        } else storedEarly.set(key(0, tile), stored);
      }
      const recordedIn = currentL0?.tile === tile ? currentL0.stored : null;
      for (let j = 0; j < hashes.length; j++) {
        const at = from + j;
        const index = tile * TILE_WIDTH + at;
        const given = hashes[j];
        // The stored tile's bytes, when it holds this leaf's hash (at byte at·32).
        const recorded = recordedIn !== null && recordedIn.hashes.length >= (at + 1) * 32 ? recordedIn.hashes : null;
        let hash: Uint8Array;
        if (given === null || given === undefined) {
          // Carry on with the recorded hash, so one lost row does not hide everything after it.
          hash = recorded === null ? ZERO : view(recorded, at * 32, 32);
          if (missing.length < KEEP) missing.push(index);
          log.add({ kind: 'leaf-missing', index, message: `leaf ${index} is missing` });
        } else {
          hash = given;
          const differs = recorded !== null && given.compare(recorded, at * 32, at * 32 + 32) !== 0;
          if (differs && suspects.length < KEEP) suspects.push(index);
        }
        builder.push(hash, onNode);
        if (pending.length > 0) checkRoots();
      }
    },
    /** A signed checkpoint; give them in size order, before the leaves that reach their size. */
    checkpoint(cp: AuditCheckpoint): void {
      checked++;
      const previousRow = priorSize;
      priorSize = cp.size;
      let signed: { size: number; root: Buffer };
      try {
        signed = parseCheckpoint(verifyNote(cp.note, [verifier]));
        if (signed.size !== cp.size) throw new Error(`it signs size ${signed.size}`);
      } catch (err) {
        log.add({
          kind: 'checkpoint-signature',
          size: cp.size,
          message: `checkpoint ${cp.size} does not verify: ${(err as Error).message}`,
        });
        return;
      }
      if (cp.root !== undefined && !signed.root.equals(cp.root)) {
        log.add({
          kind: 'checkpoint-root',
          size: cp.size,
          message: `checkpoint ${cp.size}: the stored root is not the signed one`,
        });
      }
      if (cp.previous !== undefined && cp.previous !== null && cp.previous > previousRow) {
        log.add({
          kind: 'checkpoint-missing',
          size: cp.previous,
          message: `checkpoint ${cp.previous} (before ${cp.size}) is missing`,
        });
      }
      if (prior !== null && prior.size === cp.size && !prior.root.equals(signed.root)) {
        log.add({
          kind: 'fork',
          size: cp.size,
          message: `two signed checkpoints of size ${cp.size} have different roots`,
        });
      }
      prior = signed;
      if (latest === null || signed.size >= latest.size) latest = { ...signed, note: cp.note };
      if (cp.size < builder.size) {
        log.add({ kind: 'archive-invalid', size: cp.size, message: `checkpoint ${cp.size} came after its leaves` });
        return;
      }
      pending.push(signed);
      pending.sort((a, b) => a.size - b.size);
      checkRoots();
    },
    /** A tree head seen earlier (by a client): the ledger must still have that root at that size. */
    expectRoot(size: number, root: Uint8Array): void {
      pending.push({ size, root: Buffer.from(root), client: true });
      pending.sort((a, b) => a.size - b.size);
      checkRoots();
    },
    /** A stored tile above level 0 (or the stored edge tile of any level, at the end). */
    storedTile(tile: AuditTile): void {
      const id = key(tile.level, tile.index);
      const t = awaitingStored.get(id);
      if (t !== undefined) {
        awaitingStored.delete(id);
        compareTile(t, tile);
      } else if (tile.level > 0) storedEarly.set(id, tile);
    },
    /** A tile the source does not have. */
    absentTile(level: number, index: number): void {
      const id = key(level, index);
      if (!awaitingStored.delete(id)) absent.add(id);
      log.add({
        kind: 'tile-missing',
        level,
        index: index * TILE_WIDTH ** (level + 1),
        message: `tile ${id} is missing`,
      });
    },
    /** Complete tiles recomputed so far that no stored copy was given for yet. */
    awaiting(): Array<{ level: number; index: number }> {
      return [...awaitingStored.values()].map((t) => ({ level: t.level, index: t.index }));
    },
    /** The partial tiles at the right edge, as recomputed (compare them with `storedTile` before finishing). */
    edge(): Array<{ level: number; index: number; width: number }> {
      return [...building.values()]
        .filter((t) => t.counts[0]! < TILE_WIDTH)
        .map((t) => ({ level: t.level, index: t.index, width: t.counts[0]! }));
    },
    /** Compares the edge tiles with their stored copies (cut to width), then lists what never had one. */
    closeTiles(): void {
      for (const t of building.values()) {
        const id = key(t.level, t.index);
        if (t.counts[0] === TILE_WIDTH || absent.has(id)) continue;
        const stored = storedEarly.get(id);
        storedEarly.delete(id);
        if (stored === undefined) awaitingStored.set(id, t);
        else compareTile(t, stored);
      }
      for (const t of awaitingStored.values()) {
        log.add({
          kind: 'tile-missing',
          level: t.level,
          index: t.index * TILE_WIDTH ** (t.level + 1),
          message: `tile ${key(t.level, t.index)} is missing`,
        });
      }
      awaitingStored.clear();
    },
    problem(p: LedgerProblem): void {
      log.add(p);
    },
    /** Classifies what was seen and reports. */
    finish(): LedgerReport {
      return auditVerdict(
        {
          size: builder.size,
          root: builder.root(),
          checked,
          latest,
          unreached: pending,
          suspects,
          missing,
          nodeMismatches,
          rootMismatches,
          lastMatch,
        },
        log,
      );
    },
  };
}

export type TreeAudit = ReturnType<typeof createTreeAudit>;
