// The build cache's pruning on real files in temp dirs: least-recently-used order (a read counts as a use),
// the size cap, kept entries, crash leftovers, and readers beside a prune in this process and in another.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createManualClock } from '../core/index.ts';
import { DEFAULT_CACHE_MAX_BYTES, LEFTOVER_GRACE_MS, pruneCache } from './cache-prune.ts';
import { scanCache } from './cache-usage.ts';
import { openDigestCache } from './digest-cache.ts';
import { createLayerCache } from './layer-cache.ts';
import { openScanMemo } from './scan-memo.ts';

const run = promisify(execFile);
const START = Date.parse('2026-03-01T00:00:00Z');
const KIB = 1024;
const STAMP = { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n };

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const keyOf = (name: string) => createHash('sha256').update(name).digest('hex');
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as const;
/** Deterministic bytes that differ per name, so a blob read from the wrong entry fails its digest. */
const contentOf = (name: string, size: number) => {
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += 32) createHash('sha256').update(`${name}:${at}`).digest().copy(out, at);
  return out;
};

/** Publishes a layer of `size` bytes named `name` through the layer cache. */
async function putLayer(cache: ReturnType<typeof createLayerCache>, name: string, size: number) {
  const bytes = contentOf(name, size);
  const layer = await cache.put(keyOf(name), async (path) => {
    await writeFile(path, bytes);
    const digest = sha256(bytes);
    return {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest,
      size,
      diffId: digest,
      uncompressedSize: size,
    };
  });
  await layer.file.close();
}

/** Reads a cached layer whole through its handle; null on a miss. */
async function readLayer(cache: ReturnType<typeof createLayerCache>, name: string) {
  const layer = await cache.get(keyOf(name));
  if (layer === null) return null;
  try {
    return { digest: layer.digest, bytes: await layer.file.readFile() };
  } finally {
    await layer.file.close();
  }
}

describe('pruneCache()', () => {
  let work: string;
  let n = 0;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-cache-prune-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });
  const freshCache = () => join(work, `cache-${n++}`);

  test('pruneCache() removes the least recently used first, and a read counts as a use', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    for (const name of ['a', 'b', 'c']) {
      await putLayer(layers, name, 10 * KIB);
      clock.advance(60_000);
    }
    assert.notEqual(await readLayer(layers, 'a'), null, 'a is read after c was written');
    clock.advance(60_000);
    const result = await pruneCache(dir, { maxBytes: 25 * KIB, clock });
    assert.equal(await readLayer(layers, 'b'), null, 'b, the least recently used, went');
    assert.notEqual(await readLayer(layers, 'a'), null, 'a, read recently, stayed');
    assert.notEqual(await readLayer(layers, 'c'), null);
    assert.deepEqual(result.removed.find((k) => k.kind === 'layers')?.entries, 1);
    assert.ok(result.bytesAfter <= 25 * KIB);
  });

  test('pruneCache() leaves the cache within the cap, as a new listing measures it', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    for (let i = 0; i < 12; i++) {
      await putLayer(layers, `layer-${i}`, (i + 1) * 3 * KIB);
      clock.advance(1000);
    }
    const memo = await openScanMemo(join(dir, 'secrets'), '/src/app', { clock });
    memo.add(`sha256:${'a'.repeat(64)}`);
    await memo.save();
    const before = await scanCache(dir);
    const result = await pruneCache(dir, { maxBytes: 100 * KIB, clock });
    const afterScan = await scanCache(dir);
    const measured = afterScan.entries.reduce((sum, e) => sum + e.bytes, 0);
    assert.ok(result.bytesBefore > 100 * KIB);
    assert.equal(result.bytesAfter, measured);
    assert.ok(measured <= 100 * KIB, `${measured} bytes left`);
    assert.ok(measured > 100 * KIB - 36 * KIB, 'no more removed than needed');
    const removed = result.removed.reduce((sum, k) => sum + k.entries, 0);
    assert.equal(afterScan.entries.length, before.entries.length - removed);
    assert.ok(
      afterScan.entries.some((e) => e.kind === 'secrets'),
      'the scan memo, used last, stayed',
    );
  });

  test('pruneCache() never removes kept entries, even to reach the cap', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    for (const name of ['old', 'mid', 'new']) {
      await putLayer(layers, name, 8 * KIB);
      clock.advance(1000);
    }
    const keep = new Set([layers.entry(keyOf('old'))]);
    const result = await pruneCache(dir, { maxBytes: 0, keep, clock });
    assert.notEqual(await readLayer(layers, 'old'), null);
    assert.equal(await readLayer(layers, 'mid'), null);
    assert.equal(await readLayer(layers, 'new'), null);
    assert.equal(
      result.bytesAfter,
      result.remaining.reduce((sum, k) => sum + k.bytes, 0),
    );
    assert.ok(result.bytesAfter > result.maxBytes, 'over the cap only by what was kept');
  });

  test('pruneCache() with maxBytes 0 removes every entry of every kind; a dry run removes nothing', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    await putLayer(createLayerCache(join(dir, 'layers'), { clock }), 'x', 4 * KIB);
    const digests = await openDigestCache(join(dir, 'files'), '/src/app', { clock });
    digests.set('/src/app/a', STAMP, { digest: `sha256:${'1'.repeat(64)}`, sha1: 'a'.repeat(40) });
    await digests.save();
    const dry = await pruneCache(dir, { maxBytes: 0, clock, dryRun: true });
    assert.equal(dry.bytesAfter, 0);
    assert.equal((await scanCache(dir)).entries.length, 2, 'the dry run changed nothing');
    const result = await pruneCache(dir, { maxBytes: 0, clock });
    assert.deepEqual(result.removed, dry.removed);
    assert.deepEqual((await scanCache(dir)).entries, []);
    assert.equal(result.bytesAfter, 0);
  });

  test('openDigestCache() and openScanMemo() record a use when they read, not only when they write', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const memo = await openScanMemo(join(dir, 'secrets'), '/src/app', { clock });
    memo.add(`sha256:${'b'.repeat(64)}`);
    await memo.save();
    clock.advance(3_600_000);
    const reread = await openScanMemo(join(dir, 'secrets'), '/src/app', { clock });
    assert.equal(reread.has(`sha256:${'b'.repeat(64)}`), true);
    await reread.save(); // nothing changed: nothing written
    assert.equal((await stat(reread.file)).mtimeMs, START + 3_600_000);
    const digests = await openDigestCache(join(dir, 'files'), '/src/app', { clock });
    digests.set('/src/app/a', STAMP, { digest: `sha256:${'1'.repeat(64)}`, sha1: 'a'.repeat(40) });
    await digests.save();
    clock.advance(1000);
    await openDigestCache(join(dir, 'files'), '/src/app', { clock });
    assert.equal((await stat(digests.file)).mtimeMs, START + 3_601_000);
  });

  test('pruneCache() empties the trash and old temporaries, and keeps a young one (a write in progress)', async () => {
    const dir = freshCache();
    const clock = createManualClock(Date.now());
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    await putLayer(layers, 'kept', 2 * KIB);
    // An interrupted prune: an entry renamed aside, half deleted.
    await mkdir(join(dir, 'trash', `layers.${keyOf('gone')}.123.abcd`), { recursive: true });
    await writeFile(join(dir, 'trash', `layers.${keyOf('gone')}.123.abcd`, 'layer'), 'half');
    // An interrupted put, hours old, and one in progress now.
    const stale = join(dir, 'layers', `${keyOf('stale')}.0000.tmp`);
    await mkdir(stale);
    await writeFile(join(stale, 'layer'), 'partial');
    const old = new Date(clock.now().getTime() - LEFTOVER_GRACE_MS - 60_000);
    await utimes(join(stale, 'layer'), old, old);
    await utimes(stale, old, old);
    const young = join(dir, 'layers', `${keyOf('young')}.1111.tmp`);
    await mkdir(young);
    await writeFile(join(young, 'layer'), 'writing');
    const result = await pruneCache(dir, { maxBytes: DEFAULT_CACHE_MAX_BYTES, clock });
    assert.deepEqual(await readdir(join(dir, 'trash')), []);
    assert.deepEqual((await readdir(join(dir, 'layers'))).sort(), [keyOf('kept'), `${keyOf('young')}.1111.tmp`].sort());
    assert.deepEqual(
      result.removed.find((k) => k.kind === 'incomplete'),
      { kind: 'incomplete', entries: 2, bytes: 11 },
    );
    assert.deepEqual(result.removed.find((k) => k.kind === 'layers')?.entries, 0);
  });

  test('a layer read while a prune removes it is whole through its handle; the next read is a miss', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    await putLayer(layers, 'busy', 300 * KIB);
    const held = await layers.get(keyOf('busy'));
    assert.notEqual(held, null);
    try {
      await pruneCache(dir, { maxBytes: 0, clock });
      const bytes = await held!.file.readFile();
      assert.equal(sha256(bytes), held!.digest);
    } finally {
      await held!.file.close();
    }
    assert.equal(await layers.get(keyOf('busy')), null);
  });

  test('a half-removed entry is a miss, never data: its blob or its metadata gone', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    await putLayer(layers, 'no-meta', 4 * KIB);
    await putLayer(layers, 'no-blob', 4 * KIB);
    await putLayer(layers, 'short', 4 * KIB);
    await rm(join(layers.entry(keyOf('no-meta')), 'layer.json'));
    await rm(join(layers.entry(keyOf('no-blob')), 'layer'));
    await writeFile(join(layers.entry(keyOf('short')), 'layer'), 'truncated');
    for (const name of ['no-meta', 'no-blob', 'short']) assert.equal(await readLayer(layers, name), null, name);
    await putLayer(layers, 'short', 4 * KIB);
    const replaced = await readLayer(layers, 'short');
    assert.equal(replaced?.digest, sha256(replaced!.bytes), 'a put over a broken entry publishes a whole one');
  });

  test('a reader in another process sees whole layers or misses while this one prunes and refills', async () => {
    const dir = freshCache();
    const clock = createManualClock(START);
    const layers = createLayerCache(join(dir, 'layers'), { clock });
    const names = Array.from({ length: 6 }, (_, i) => `shared-${i}`);
    for (const name of names) await putLayer(layers, name, 256 * KIB);
    const stop = join(dir, 'stop');
    const ready = join(dir, 'ready');
    const reader = run(process.execPath, [
      '--input-type=module',
      '-e',
      READER,
      fileURLToPath(new URL('./layer-cache.ts', import.meta.url)),
      join(dir, 'layers'),
      ready,
      stop,
      ...names.map(keyOf),
    ]);
    while (!(await exists(ready))) await sleep(20);
    for (let rounds = 0; rounds < 20; rounds++) {
      await pruneCache(dir, { maxBytes: rounds % 2 === 0 ? 0 : 700 * KIB, clock });
      for (const name of names) await putLayer(layers, name, 256 * KIB);
      clock.advance(1000);
    }
    await writeFile(stop, '');
    const seen = JSON.parse((await reader).stdout) as { hits: number; misses: number; corrupt: string[] };
    assert.deepEqual(seen.corrupt, [], 'no read returned bytes other than the entry digest names');
    assert.ok(seen.hits > 0, `the reader read whole layers (${JSON.stringify(seen)})`);
  });
});

// Reads every key in a loop until the stop file appears (and says it is under way with the ready file): each hit is read whole through its handle and
// checked against the digest its metadata names. Prints the counts as JSON.
const READER = `
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
const [cacheModule, dir, ready, stop, ...keys] = process.argv.slice(1);
const { createLayerCache } = await import(cacheModule);
const cache = createLayerCache(dir, { clock: { now: () => new Date() } });
const seen = { hits: 0, misses: 0, corrupt: [] };
while (!existsSync(stop)) {
  for (const key of keys) {
    const layer = await cache.get(key);
    if (layer === null) { seen.misses++; continue; }
    try {
      const bytes = await layer.file.readFile();
      const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      if (digest !== layer.digest || bytes.length !== layer.size) seen.corrupt.push(key);
      else seen.hits++;
    } finally {
      await layer.file.close();
    }
  }
  if (!existsSync(ready)) writeFileSync(ready, '');
}
process.stdout.write(JSON.stringify(seen));
`;
