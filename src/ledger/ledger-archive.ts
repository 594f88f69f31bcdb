import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { LedgerError } from './ledger-error.ts';
import type { CheckpointRow, LedgerStore } from './ledger-store.ts';
import { encodeEntryBundle, entriesPath, TILE_WIDTH, tilePath } from './tiles.ts';

// The archive is the C2SP tlog-tiles static layout of the latest checkpoint's tree, plus every signed
// checkpoint and the key, in one tar. Members come in tree order so a verifier streams it in one pass:
//   checkpoint, ledger.pub, checkpoints/0,
//   then per level-0 tile N: checkpoints/<s> for sizes inside it, tile/0/N, tile/entries/N, and the
//   higher tiles N completes; finally the partial right-edge tiles above level 0.
// Each checkpoints/<s> carries the size signed before it (pax `fixity.previous`), so a removed one shows.

/** The pax record naming the checkpoint signed before this one. */
export const PREVIOUS_PAX = 'fixity.previous';
export const PUBLIC_KEY_NAME = 'ledger.pub';
const TILES_PER_READ = 16;

/** Streams the ledger as of its latest checkpoint as a tar; memory stays flat whatever the size. */
export function exportLedgerArchive(options: {
  store: LedgerStore;
  publicKeyPem: string;
  signal?: AbortSignal;
}): Readable {
  const { store, signal } = options;
  const tar = pack();
  const add = (name: string, data: Uint8Array | string, pax?: Record<string, string>) =>
    new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      const header = { name, mode: 0o644, mtime: new Date(0), uname: '', gname: '', ...(pax ? { pax } : {}) };
      tar.entry(header, typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data), (err) =>
        err ? reject(err) : resolve(),
      );
    });
  const addCheckpoint = (c: CheckpointRow) =>
    add(`checkpoints/${c.size}`, c.note, c.previous === null ? undefined : { [PREVIOUS_PAX]: String(c.previous) });

  async function write(): Promise<void> {
    const latest = await store.latestCheckpoint();
    if (latest === null) throw new LedgerError('CHECKPOINT_UNKNOWN', 'Cannot export the ledger: it has no checkpoint');
    const size = latest.size;
    await add('checkpoint', latest.note);
    await add(PUBLIC_KEY_NAME, options.publicKeyPem);
    let after = -1;
    let page: CheckpointRow[] = [];
    let exhausted = false;
    const checkpointsUpTo = async (limit: number) => {
      for (;;) {
        while (page.length > 0 && page[0]!.size <= limit) await addCheckpoint(page.shift()!);
        if (page.length > 0 || exhausted) return;
        const next = await store.checkpoints(after, 1000);
        after = next[next.length - 1]?.size ?? after;
        page = next.filter((c) => c.size <= size); // the tree may have grown since `latest`
        exhausted = next.length < 1000 || page.length < next.length;
      }
    };
    await checkpointsUpTo(0);
    const tiles = Math.ceil(size / TILE_WIDTH);
    for (let first = 0; first < tiles; first += TILES_PER_READ) {
      const last = Math.min(first + TILES_PER_READ, tiles);
      const [rows, stored] = await Promise.all([
        store.leaves(first * TILE_WIDTH, Math.min(last * TILE_WIDTH, size)),
        store.tileRange(0, first, last),
      ]);
      let r = 0;
      for (let t = first; t < last; t++) {
        const width = Math.min(TILE_WIDTH, size - t * TILE_WIDTH);
        await checkpointsUpTo(t * TILE_WIDTH + width);
        const tile = stored.find((s) => s.index === t);
        if (tile !== undefined) await add(tilePath(0, t, width), tile.hashes.subarray(0, width * 32));
        const bodies: Uint8Array[] = [];
        for (; r < rows.length && rows[r]!.idx < t * TILE_WIDTH + width; r++) bodies.push(rows[r]!.body);
        await add(entriesPath(t, width), encodeEntryBundle(bodies));
        if (width === TILE_WIDTH) await addCompletedTiles(t);
      }
    }
    await checkpointsUpTo(size);
    // The partial tiles above level 0: n nodes at tree level 8·level, the last tile holding n mod 256.
    for (let level = 1, n = Math.floor(size / TILE_WIDTH); n > 0; level++, n = Math.floor(n / TILE_WIDTH)) {
      const width = n % TILE_WIDTH;
      if (width === 0) continue;
      const [tile] = await store.tiles([{ level, index: Math.floor(n / TILE_WIDTH) }]);
      if (tile !== undefined)
        await add(tilePath(level, Math.floor(n / TILE_WIDTH), width), tile.hashes.subarray(0, width * 32));
    }
  }

  // After level-0 tile t, a level-L tile is complete when (t+1)·256 leaves fill a multiple of 256^(L+1).
  async function addCompletedTiles(t: number): Promise<void> {
    const leaves = (t + 1) * TILE_WIDTH;
    for (let level = 1, span = TILE_WIDTH ** 2; leaves % span === 0; level++, span *= TILE_WIDTH) {
      const index = leaves / span - 1;
      const [tile] = await store.tiles([{ level, index }]);
      if (tile !== undefined) await add(tilePath(level, index), tile.hashes.subarray(0, TILE_WIDTH * 32));
    }
  }

  write().then(
    () => tar.finalize(),
    (err: unknown) => tar.destroy(err as Error),
  );
  return Readable.from(tar);
}
