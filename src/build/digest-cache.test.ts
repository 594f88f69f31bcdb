import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createManualClock } from '../core/index.ts';
import { type FileDigests, openDigestCache, RACY_MS } from './digest-cache.ts';
import type { FileStamp } from './source-file.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fixity-digests-'));
  dirs.push(dir);
  return dir;
}

const ROOT = '/src/app';
const NOW = Date.parse('2026-01-01T00:00:00Z');
const ns = (ms: number) => BigInt(ms) * 1_000_000n;
const D1: FileDigests = { digest: `sha256:${'1'.repeat(64)}`, sha1: 'a'.repeat(40) };
const D2: FileDigests = { digest: `sha256:${'2'.repeat(64)}`, sha1: 'b'.repeat(40) };
/** A stamp for a file last changed `ageMs` before NOW. */
const stamp = (ageMs: number, extra: Partial<FileStamp> = {}): FileStamp => ({
  dev: 2049n,
  ino: 77n,
  size: 5n,
  mtimeNs: ns(NOW - ageMs),
  ctimeNs: ns(NOW - ageMs),
  ...extra,
});

/** Records `entries` in a session at NOW, saves, and reopens at `reopenAt`. */
async function recorded(dir: string, entries: Array<[string, FileStamp, FileDigests]>, reopenAt = NOW + 60_000) {
  const first = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW) });
  for (const [path, s, digests] of entries) first.set(path, s, digests);
  await first.save();
  return openDigestCache(dir, ROOT, { clock: createManualClock(reopenAt) });
}

describe('openDigestCache()', () => {
  test('openDigestCache() returns the recorded SHA-256 and SHA-1 when the stamp is unchanged and old enough', async () => {
    const dir = tempDir();
    const cache = await recorded(dir, [['a.js', stamp(60_000), D1]]);
    assert.deepEqual(cache.get('a.js', stamp(60_000)), D1);
    assert.deepEqual(cache.counts(), { hits: 1, misses: 0 });
    const [file] = readdirSync(dir);
    const stored = JSON.parse(readFileSync(join(dir, file!), 'utf8'));
    assert.equal(stored.version, 3);
    const t = ns(NOW - 60_000);
    assert.deepEqual(stored.entries, [['a.js', `2049:77:5:${t}:${t}`, '1'.repeat(64), 'a'.repeat(40), 0]]);
  });

  test('openDigestCache() ignores a version 1 or 2 cache (no SHA-1, no verdict) instead of misreading it', async () => {
    const dir = tempDir();
    await recorded(dir, [['a.js', stamp(60_000), D1]]);
    const [file] = readdirSync(dir);
    const v3 = JSON.parse(readFileSync(join(dir, file!), 'utf8'));
    for (const [version, fields] of [
      [1, 3],
      [2, 4],
    ]) {
      const old = { ...v3, version, entries: v3.entries.map((e: unknown[]) => e.slice(0, fields)) };
      writeFileSync(join(dir, file!), JSON.stringify(old));
      const cache = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 60_000) });
      assert.equal(cache.get('a.js', stamp(60_000)), null, `version ${version}`);
    }
  });

  test('openDigestCache() keeps a clean verdict with the digests, under one scanner version only', async () => {
    const dir = tempDir();
    const open = (scanner: string) => openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 60_000), scanner });
    const first = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW), scanner: 'v1' });
    first.set('a.js', stamp(60_000), D1);
    first.set('b.js', stamp(60_000), D2);
    assert.equal(first.isClean('a.js'), false);
    first.markClean('a.js');
    first.markClean('unknown.js'); // nothing remembered: nothing to mark
    assert.equal(first.isClean('a.js'), true);
    await first.save();

    const same = await open('v1');
    assert.equal(same.isClean('a.js'), false, 'a verdict counts only for what this build looked up');
    assert.deepEqual(same.get('a.js', stamp(60_000)), D1);
    assert.deepEqual(same.get('b.js', stamp(60_000)), D2);
    assert.deepEqual([same.isClean('a.js'), same.isClean('b.js')], [true, false]);
    same.set('a.js', stamp(30_000, { size: 6n }), D2);
    assert.equal(same.isClean('a.js'), false, 'new content: no verdict yet');

    const other = await open('v2');
    assert.deepEqual(other.get('a.js', stamp(60_000)), D1, 'the digests are good under any scanner');
    assert.equal(other.isClean('a.js'), false, "another scanner's verdict is dropped");
  });

  test('openDigestCache() misses when dev, ino, size, mtime or ctime changed, or the path is unknown', async () => {
    const dir = tempDir();
    const cache = await recorded(dir, [['a.js', stamp(60_000), D1]]);
    const old = stamp(60_000);
    for (const changed of [
      { dev: 2050n },
      { ino: 78n },
      { size: 6n },
      { mtimeNs: old.mtimeNs + 1n },
      { ctimeNs: old.ctimeNs + 1n },
    ]) {
      assert.equal(
        cache.get('a.js', { ...old, ...changed }),
        null,
        JSON.stringify(changed, (_, v) => `${v}`),
      );
    }
    assert.equal(cache.get('b.js', old), null);
    assert.deepEqual(cache.counts(), { hits: 0, misses: 6 });
  });

  test('openDigestCache() does not trust a file changed within RACY_MS of the session that hashed it', async () => {
    const dir = tempDir();
    const racy = stamp(RACY_MS - 1);
    const ctimeRacy = { ...stamp(60_000), ctimeNs: ns(NOW - 10) };
    const settled = stamp(RACY_MS + 1);
    const cache = await recorded(dir, [
      ['racy', racy, D1],
      ['ctime-racy', ctimeRacy, D1],
      ['settled', settled, D2],
    ]);
    assert.equal(cache.get('racy', racy), null);
    assert.equal(cache.get('ctime-racy', ctimeRacy), null);
    assert.deepEqual(cache.get('settled', settled), D2);
  });

  test('openDigestCache() trusts a racy entry once a later session has hashed it again', async () => {
    const dir = tempDir();
    const racy = stamp(100);
    const second = await recorded(dir, [['f', racy, D1]], NOW + 10_000);
    assert.equal(second.get('f', racy), null);
    second.set('f', racy, D1); // what collectLayer does after hashing it again
    await second.save();
    const third = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 20_000) });
    assert.deepEqual(third.get('f', racy), D1);
  });

  test('openDigestCache() reads a file as earlier builds wrote it, by paths relative to the root, non-ASCII too', async () => {
    const dir = tempDir();
    await recorded(dir, [['x', stamp(60_000), D1]]);
    const [file] = readdirSync(dir);
    const t = ns(NOW - 60_000);
    const row = (path: string, d: FileDigests) => [path, `2049:77:5:${t}:${t}`, d.digest.slice(7), d.sha1, 1];
    const entries = [row('ünï/cödé ß.js', D1), row('a.js', D2)];
    const scanner = 'v1';
    writeFileSync(join(dir, file!), JSON.stringify({ version: 3, root: ROOT, scanner, recordedAtMs: NOW, entries }));
    const cache = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 60_000) });
    assert.deepEqual(cache.get('ünï/cödé ß.js', stamp(60_000)), D1);
    assert.deepEqual(cache.get('a.js', stamp(60_000)), D2);
    assert.equal(cache.get(`${ROOT}/a.js`, stamp(60_000)), null, 'keys are relative to the root');
  });

  test('openDigestCache() ignores a cache file that is corrupt, truncated or of another shape', async () => {
    const dir = tempDir();
    await recorded(dir, [['a.js', stamp(60_000), D1]]);
    const [file] = readdirSync(dir);
    const good = readFileSync(join(dir, file!), 'utf8');
    const bad = [
      'not json',
      good.slice(0, good.length - 5),
      'null',
      JSON.stringify({ ...JSON.parse(good), version: 99 }),
      JSON.stringify({ ...JSON.parse(good), root: '/elsewhere' }),
      good.replace(/"[0-9a-f]{64}"/, '"zz"'),
      good.replace(/"[0-9a-f]{40}"/, '"ABC"'),
      good.replace(/,"[0-9a-f]{40}"/, ''),
      good.replace(/\]\]/, ',"7"]]'),
    ];
    for (const content of bad) {
      writeFileSync(join(dir, file!), content);
      const cache = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 60_000) });
      assert.equal(cache.get('a.js', stamp(60_000)), null, content.slice(0, 40));
    }
  });

  test('save() keeps only the entries this build used, writes atomically, and skips an unchanged file', async () => {
    const dir = tempDir();
    const cache = await recorded(dir, [
      ['kept', stamp(60_000), D1],
      ['deleted', stamp(60_000), D2],
    ]);
    assert.deepEqual(cache.get('kept', stamp(60_000)), D1);
    await cache.save();
    const [file] = readdirSync(dir);
    assert.deepEqual(readdirSync(dir), [file], 'no temporary file is left');
    const again = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 120_000) });
    assert.equal(again.get('deleted', stamp(60_000)), null);
    assert.deepEqual(again.get('kept', stamp(60_000)), D1);
    writeFileSync(join(dir, file!), readFileSync(join(dir, file!), 'utf8').replace('"version"', ' "version"'));
    const marked = readFileSync(join(dir, file!), 'utf8');
    const unchanged = await openDigestCache(dir, ROOT, { clock: createManualClock(NOW + 180_000) });
    unchanged.get('kept', stamp(60_000));
    await unchanged.save();
    assert.equal(readFileSync(join(dir, file!), 'utf8'), marked, 'a build that changed nothing does not rewrite');
  });
});
