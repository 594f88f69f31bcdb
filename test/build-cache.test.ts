// The cache of `fixity build` kept under its cap: the prune after every build (LRU, the build's own entries
// kept), and `fixity cache du` / `fixity cache prune` as a user runs them, with their JSON and exit codes. A
// build after any prune gives the same digest.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build } from '../src/build/build.ts';
import { systemClock } from '../src/core/index.ts';
import { createRegistryClient } from '../src/oci/index.ts';
import { type CLIResult, runCLI } from './support/server-process.ts';

const HELLO = new URL('../examples/hello/', import.meta.url).pathname;
const KINDS = ['layers', 'evidence', 'files', 'secrets', 'builds', 'specs', 'incomplete'];

/** Exactly one JSON document on stdout, and exit 0. */
function json<T>(r: CLIResult, what: string): T {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Tally {
  kind: string;
  entries: number;
  bytes: number;
}

/** Every kind listed once, in order, each with whole numbers. */
function assertTally(tally: Tally[], what: string): void {
  assert.deepEqual(
    tally.map((k) => k.kind),
    KINDS,
    what,
  );
  for (const k of tally) {
    assert.deepEqual(Object.keys(k).sort(), ['bytes', 'entries', 'kind'], what);
    assert.ok(Number.isSafeInteger(k.entries) && Number.isSafeInteger(k.bytes), what);
  }
}

describe('the build cache', () => {
  let work: string;
  let one: string;
  let two: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-build-cache-'));
    one = join(work, 'one');
    two = join(work, 'two');
    await cp(HELLO, one, { recursive: true });
    await cp(HELLO, two, { recursive: true });
    await writeFile(join(two, 'server.js'), `${await readFile(join(two, 'server.js'), 'utf8')}// two\n`);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const options = (dir: string, cacheDir: string, extra: Partial<Parameters<typeof build>[0]> = {}) => ({
    dir,
    cacheDir,
    toolVersion: 'test',
    registry: createRegistryClient({ credentials: () => null }),
    clock: systemClock,
    sourceDateEpoch: 1_700_000_000,
    ...extra,
  });

  test('build() prunes what older builds used to fit cacheMaxBytes, and keeps every entry it used', async () => {
    const cacheDir = join(work, 'cache-lru');
    const first = await build(options(one, cacheDir));
    assert.deepEqual(
      first.cache?.removed.map((k) => k.entries),
      [0, 0, 0, 0, 0, 0, 0],
      'under the default cap',
    );
    const other = await build(options(two, cacheDir, { cacheMaxBytes: 1 }));
    assert.deepEqual(
      other.cache?.removed.map((k) => [k.kind, k.entries]),
      [
        ['layers', 1],
        ['evidence', 1],
        ['files', 1],
        ['secrets', 1],
        ['builds', 0],
        ['specs', 0], // both sources have the same fixity.yaml: the entry is this build’s too
        ['incomplete', 0],
      ],
      'the first build’s entries went',
    );
    assert.ok(other.cache!.bytesAfter > 1, 'the cap was missed only by what this build used');
    const [envelope] = await readdir(join(cacheDir, 'evidence'));
    const envelopeBefore = await stat(join(cacheDir, 'evidence', envelope!, 'blob'));

    const again = await build(options(two, cacheDir));
    assert.equal(again.digest, other.digest);
    assert.ok(
      again.layers.every((l) => l.cached),
      'its layers survived the prune',
    );
    assert.equal((await stat(join(cacheDir, 'evidence', envelope!, 'blob'))).ino, envelopeBefore.ino, 'and its SBOM');
    const rebuilt = await build(options(one, cacheDir));
    assert.equal(rebuilt.digest, first.digest, 'a pruned build comes back with the same digest');
    assert.ok(!rebuilt.layers[0]!.cached);
  });

  test('fixity cache du and prune --all --json report per kind; a build afterwards gives the same digest', async () => {
    const env = { XDG_CACHE_HOME: join(work, 'xdg'), FIXITY_CACHE_MAX: '', SOURCE_DATE_EPOCH: '1700000000' };
    const built = json<{ digest: string; cache: { maxBytes: number } }>(
      await runCLI(['build', one, '--json'], { env }),
      'build',
    );
    assert.equal(built.cache.maxBytes, 10 * 1024 ** 3, 'the default cap');
    const du = json<{ kind: string; dir: string; bytes: number; maxBytes: number; kinds: Array<Tally> }>(
      await runCLI(['cache', 'du', '--json'], { env: { ...env, FIXITY_CACHE_MAX: '2GiB' } }),
      'cache du',
    );
    assert.equal(du.kind, 'CacheUsage');
    assert.equal(du.dir, join(work, 'xdg', 'fixity'));
    assert.equal(du.maxBytes, 2 * 1024 ** 3);
    assertTally(
      du.kinds.map(({ description: _d, ...k }: Tally & { description?: string }) => k),
      'du',
    );
    assert.deepEqual(
      du.kinds.map((k) => k.entries),
      [1, 1, 1, 1, 0, 1, 0],
    );
    assert.equal(
      du.bytes,
      du.kinds.reduce((sum, k) => sum + k.bytes, 0),
    );

    const dry = json<{ dryRun: boolean; bytesAfter: number }>(
      await runCLI(['cache', 'prune', '--all', '--dry-run', '--json'], { env }),
      'prune --dry-run',
    );
    assert.deepEqual([dry.dryRun, dry.bytesAfter], [true, 0]);
    const pruned = json<Record<string, unknown> & { removed: Tally[]; remaining: Tally[] }>(
      await runCLI(['cache', 'prune', '--all', '--json'], { env }),
      'prune --all',
    );
    assert.deepEqual(Object.keys(pruned).sort(), [
      'apiVersion',
      'bytesAfter',
      'bytesBefore',
      'dir',
      'dryRun',
      'kind',
      'maxBytes',
      'remaining',
      'removed',
    ]);
    assert.deepEqual(
      [pruned.apiVersion, pruned.kind, pruned.maxBytes, pruned.dryRun, pruned.bytesAfter, pruned.bytesBefore],
      ['fixity.dev/v1', 'CachePrune', 0, false, 0, du.bytes],
    );
    assertTally(pruned.removed, 'removed');
    assertTally(pruned.remaining, 'remaining');
    assert.deepEqual(
      pruned.removed.map((k) => k.entries),
      [1, 1, 1, 1, 0, 1, 0],
    );
    const empty = json<{ bytes: number }>(await runCLI(['cache', 'du', '--json'], { env }), 'cache du');
    assert.equal(empty.bytes, 0);

    const rebuilt = json<{ digest: string; layers: Array<{ cached: boolean }> }>(
      await runCLI(['build', one, '--json'], { env }),
      'build after prune',
    );
    assert.equal(rebuilt.digest, built.digest);
    assert.equal(rebuilt.layers[0]!.cached, false);
  });

  test('fixity cache prune prints a table and refuses bad sizes and --all with --keep-storage (exit 2)', async () => {
    const env = { XDG_CACHE_HOME: join(work, 'xdg-usage'), FIXITY_CACHE_MAX: '' };
    const text = await runCLI(['cache', 'prune', '--keep-storage', '1GiB'], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^KIND\tENTRIES\tSIZE\nlayers\t0\t0 B\n/);
    assert.match(text.stdout, /Freed 0 B \(0 entries\); the cache holds 0 B \(limit 1\.0 GiB\)\./);
    const both = await runCLI(['cache', 'prune', '--all', '--keep-storage', '1GiB'], { env });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /cannot be used with/);
    const size = await runCLI(['cache', 'prune', '--keep-storage', 'lots', '--json'], { env });
    assert.equal(size.code, 2);
    const error = JSON.parse(size.stderr) as { error: { code: string; message: string; fix: string } };
    assert.equal(error.error.code, 'USAGE');
    assert.match(error.error.message, /--keep-storage "lots"/);
    assert.match(error.error.fix, /10GiB/);
    const build = await runCLI(['build', one, '--cache-max', 'big'], { env });
    assert.equal(build.code, 2);
    assert.match(build.stderr, /Cannot read --cache-max "big": not a size/);
    const variable = await runCLI(['cache', 'du'], { env: { ...env, FIXITY_CACHE_MAX: '-1' } });
    assert.equal(variable.code, 2);
    assert.match(variable.stderr, /FIXITY_CACHE_MAX/);
  });
});
