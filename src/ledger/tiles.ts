import { LedgerError } from './ledger-error.ts';
import { nodeHash } from './merkle.ts';
import type { NodeId } from './proof.ts';

// C2SP tlog-tiles v0.1.0: the tree served as static tiles of 256 hashes, each a subtree of height 8.

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
const MAX_TILE_LEVEL = 63;
const MAX_ENTRY_BYTES = 0xffff;

/** A parsed tile resource: a hash tile at a tile level, or the entry bundle beside a level-0 tile. */
export type TilePath =
  | { kind: 'tile'; level: number; index: number; width: number }
  | { kind: 'entries'; index: number; width: number };

/** `tile/<L>/<N>[.p/<W>]`; width 256 (the default) is a full tile and has no `.p` suffix. */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw new LedgerError('TILE_PATH_INVALID', `Cannot name tile: level ${level} is not in 0..${MAX_TILE_LEVEL}`);
  }
  return `tile/${level}/${indexPath(index, width)}`;
}

/** `tile/entries/<N>[.p/<W>]`: the entry bundle beside level-0 tile N. */
export function entriesPath(index: number, width: number = TILE_WIDTH): string {
  return `tile/entries/${indexPath(index, width)}`;
}

function indexPath(index: number, width: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new LedgerError('TILE_PATH_INVALID', `Cannot name tile: index ${index} is not a non-negative integer`);
  }
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new LedgerError('TILE_PATH_INVALID', `Cannot name tile: width ${width} is not in 1..${TILE_WIDTH}`);
  }
  const groups: string[] = [];
  for (let n = index; ; n = Math.floor(n / 1000)) {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    if (n < 1000) break;
  }
  const n = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  return width === TILE_WIDTH ? n : `${n}.p/${width}`;
}

// At most 6 groups (10^18 > 2^53); every number canonical, so each resource has exactly one path.
const PATH = /^tile\/(entries|0|[1-9]\d?)\/((?:x\d{3}\/){0,5}\d{3})(?:\.p\/([1-9]\d{0,2}))?$/;

/** Parses a tile or entry-bundle path from an untrusted URL; throws TILE_PATH_INVALID unless it is canonical. */
export function parseTilePath(path: string): TilePath {
  const m = PATH.exec(path);
  const invalid = () => new LedgerError('TILE_PATH_INVALID', `Cannot parse tile path: "${path.slice(0, 80)}"`);
  if (!m) throw invalid();
  const index = Number(m[2]!.replaceAll('x', '').replaceAll('/', ''));
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (!Number.isSafeInteger(index) || (m[3] !== undefined && width >= TILE_WIDTH)) throw invalid();
  const level = m[1] === 'entries' ? undefined : Number(m[1]);
  if (level !== undefined && level > MAX_TILE_LEVEL) throw invalid();
  const parsed: TilePath =
    level === undefined ? { kind: 'entries', index, width } : { kind: 'tile', level, index, width };
  // Reject non-minimal forms such as x000/067 for 67.
  if ((level === undefined ? entriesPath(index, width) : tilePath(level, index, width)) !== path) throw invalid();
  return parsed;
}

/** How many hashes tile `index` at tile level `level` holds in a tree of `size` (0 = not yet started). */
export function tileWidthAt(level: number, index: number, size: number): number {
  const hashes = Math.floor(size / TILE_WIDTH ** level);
  return Math.max(0, Math.min(TILE_WIDTH, hashes - index * TILE_WIDTH));
}

/**
 * Which tile holds or derives node `id`: tile level L stores tree level 8L, and the tree levels 8L+1..8L+7
 * above it are hashed inside the tile; `offset` is the node's position among that tile's level-`offsetLevel` nodes.
 */
export function tileForNode(id: NodeId): { level: number; index: number; offsetLevel: number; offset: number } {
  const level = Math.floor(id.level / TILE_HEIGHT);
  const offsetLevel = id.level % TILE_HEIGHT;
  const perTile = TILE_WIDTH / 2 ** offsetLevel;
  return { level, index: Math.floor(id.index / perTile), offsetLevel, offset: id.index % perTile };
}

/** The hash of the node `offset` at `offsetLevel` inside a tile, from the tile's `width·32` bytes of hashes. */
export function nodeFromTile(hashes: Uint8Array, offsetLevel: number, offset: number): Buffer {
  const span = 2 ** offsetLevel;
  if (!Number.isInteger(offsetLevel) || offsetLevel < 0 || offsetLevel >= TILE_HEIGHT || hashes.length % 32 !== 0) {
    throw new LedgerError('TILE_INVALID', `Cannot read tile: offset level ${offsetLevel} or ${hashes.length} bytes`);
  }
  if (!Number.isInteger(offset) || offset < 0 || (offset + 1) * span * 32 > hashes.length) {
    throw new LedgerError('TILE_INVALID', `Cannot read tile: node ${offsetLevel}/${offset} is past its width`);
  }
  let row: Buffer[] = [];
  for (let i = offset * span; i < (offset + 1) * span; i++) row.push(Buffer.from(hashes.subarray(i * 32, i * 32 + 32)));
  while (row.length > 1) row = row.filter((_, i) => i % 2 === 0).map((left, i) => nodeHash(left, row[2 * i + 1]!));
  return row[0]!;
}

/** An entry bundle: each entry prefixed by its big-endian uint16 length. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const [i, e] of entries.entries()) {
    if (e.length > MAX_ENTRY_BYTES) {
      throw new LedgerError('ENTRY_TOO_LARGE', `Cannot bundle entry ${i}: ${e.length} bytes exceeds 65535`);
    }
    parts.push(Buffer.from([e.length >> 8, e.length & 0xff]), e);
  }
  return Buffer.concat(parts);
}

/** Splits an entry bundle back into entries; throws BUNDLE_INVALID on a truncated length or body. */
export function decodeEntryBundle(buf: Uint8Array): Buffer[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const entries: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    if (at + 2 > b.length) throw truncated(entries.length);
    const len = b.readUInt16BE(at);
    if (at + 2 + len > b.length) throw truncated(entries.length);
    entries.push(Buffer.from(b.subarray(at + 2, at + 2 + len)));
    at += 2 + len;
  }
  return entries;
}

function truncated(n: number): LedgerError {
  return new LedgerError('BUNDLE_INVALID', `Cannot decode entry bundle: entry ${n} is truncated`);
}
