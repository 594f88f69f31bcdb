import { LedgerError } from './ledger-error.ts';
import type { LedgerStore } from './ledger-store.ts';
import type { NodeId } from './proof.ts';
import { locateNode, type StoredTile, tileHolds, tileKey, tileNode } from './stored-tile.ts';

/** Reads subtree hashes out of the stored tiles, through a bounded cache. */
export interface TileReader {
  /** Fetches what `ids` need, then answers each of them synchronously (as the proof builders ask). */
  nodes(ids: readonly NodeId[]): Promise<(id: NodeId) => Buffer>;
  tile(level: number, index: number): Promise<StoredTile | null>;
  /** Tiles just committed: full ones never change again, the edge one is the newest version. */
  remember(tiles: readonly StoredTile[]): void;
}

const tileBytes = (t: StoredTile) => t.hashes.length + t.interior.length + 64;

/** A reader over `store` keeping at most `maxBytes` of tiles, least recently used out first. */
export function createTileReader(store: LedgerStore, maxBytes = 64 * 2 ** 20): TileReader {
  // A Map iterates in insertion order, so re-inserting on use makes its first key the least recent.
  const cache = new Map<string, StoredTile>();
  let bytes = 0;

  const put = (t: StoredTile): void => {
    const key = tileKey(t.level, t.index);
    const old = cache.get(key);
    if (old !== undefined) {
      if (old.hashes.length > t.hashes.length) return; // a tile only grows; keep the wider one
      bytes -= tileBytes(old);
      cache.delete(key);
    }
    cache.set(key, t);
    bytes += tileBytes(t);
    for (const [k, v] of cache) {
      if (bytes <= maxBytes) break;
      cache.delete(k);
      bytes -= tileBytes(v);
    }
  };
  const get = (key: string): StoredTile | undefined => {
    const t = cache.get(key);
    if (t !== undefined) {
      cache.delete(key);
      cache.set(key, t);
    }
    return t;
  };

  return {
    async nodes(ids) {
      const at = ids.map(locateNode);
      // Held locally for the answers: filling the cache below may evict a tile this proof needs.
      const held = new Map<string, StoredTile>();
      const missing = new Map<string, { level: number; index: number }>();
      for (const a of at) {
        const t = held.get(a.key) ?? get(a.key);
        if (t !== undefined && tileHolds(t, a.offsetLevel, a.offset)) held.set(a.key, t);
        else missing.set(a.key, a);
      }
      if (missing.size > 0) {
        for (const t of await store.tiles([...missing.values()])) {
          held.set(tileKey(t.level, t.index), t);
          put(t);
        }
      }
      return (id) => {
        const a = locateNode(id);
        const t = held.get(a.key);
        if (t === undefined || !tileHolds(t, a.offsetLevel, a.offset)) {
          throw new LedgerError('STATE_INVALID', `Cannot read node ${id.level}/${id.index}: tile ${a.key} is missing`);
        }
        return tileNode(t, a.offsetLevel, a.offset);
      };
    },
    async tile(level, index) {
      const cached = get(tileKey(level, index));
      if (cached !== undefined && cached.hashes.length === 8192) return cached;
      const [t] = await store.tiles([{ level, index }]);
      if (t === undefined) return null;
      put(t);
      return t;
    },
    remember(tiles) {
      for (const t of tiles) put(t);
    },
  };
}
