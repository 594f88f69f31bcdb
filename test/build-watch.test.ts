// Builds with the file watcher: a build whose sources and inputs are unchanged since the last build of them
// reuses that build without reading the tree and gives the same image; every way the sources or the cache can
// differ sends the build back to reading them, and the image is the one a build without the watcher makes.
import assert from 'node:assert/strict';
import { cp, link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BuildOptions, build } from '../src/build/build.ts';
import { ask, connectFileWatcher, watchSocket } from '../src/build/fs-watch.ts';
import { runWatchDaemon } from '../src/build/fs-watch-daemon.ts';
import { testBuildOptions } from '../src/build/test-build-options.ts';
import { type CLIResult, NODE, ROOT, run, runCLI } from './support/server-process.ts';

const HELLO = new URL('../examples/hello/', import.meta.url).pathname;

describe('builds with the file watcher', () => {
  let work: string;
  let watchDir: string;
  let daemon: Promise<void>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-build-watch-'));
    watchDir = join(work, 'watch');
    await mkdir(watchDir, { mode: 0o700 });
    daemon = runWatchDaemon({ dir: watchDir, socketPath: watchSocket(watchDir), idleMs: 120_000 });
  });
  after(async () => {
    await ask(watchSocket(watchDir), { op: 'stop' }, 2000);
    await daemon;
    await rm(work, { recursive: true, force: true });
  });

  const watch = () => connectFileWatcher({ dir: watchDir, start: () => assert.fail('the daemon runs') });
  const options = (dir: string, cacheDir: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
    ...testBuildOptions(dir, cacheDir),
    watch: watch(),
    ...extra,
  });
  async function source(name: string): Promise<string> {
    const dir = join(work, name);
    await cp(HELLO, dir, { recursive: true });
    return dir;
  }
  // The image a build without any cache or watcher makes of `dir` as it is now.
  const truth = async (dir: string) =>
    (await build(options(dir, join(work, `truth-${Math.random()}`), { noCache: true, watch: undefined }))).digest;

  test('an unchanged source is reused: same image and SBOM, layers from the cache, provenance made anew', async () => {
    const dir = await source('same');
    const cacheDir = join(work, 'cache-same');
    const first = await build(options(dir, cacheDir));
    assert.equal(first.sources, 'read');
    const events: string[] = [];
    const second = await build(options(dir, cacheDir, { onEvent: (e) => events.push(e.kind) }));
    assert.equal(second.sources, 'unchanged');
    assert.equal(second.digest, first.digest);
    assert.equal(second.sbom.digest, first.sbom.digest);
    assert.equal(second.sourceTreeDigest, first.sourceTreeDigest);
    assert.ok(second.layers.every((l) => l.cached));
    assert.deepEqual(
      second.layers,
      first.layers.map((l) => ({ ...l, cached: true })),
    );
    assert.ok(events.includes('watch') && events.includes('layer'));
    assert.deepEqual(second.sbom.statement, first.sbom.statement, 'the SBOM reads back from the cache');
    assert.equal(second.digest, await truth(dir));
    const files = await readdir(join(cacheDir, 'builds'));
    assert.equal(files.length, 1, 'one memo for one set of inputs');
  });

  test('a change to a packaged file, or to fixity.yaml, is read and gives the image of the new sources', async () => {
    const dir = await source('edited');
    const cacheDir = join(work, 'cache-edited');
    const first = await build(options(dir, cacheDir));
    await writeFile(join(dir, 'server.js'), `${await readFile(join(dir, 'server.js'), 'utf8')}// edited\n`);
    const edited = await build(options(dir, cacheDir));
    assert.equal(edited.sources, 'read');
    assert.notEqual(edited.digest, first.digest);
    assert.equal(edited.digest, await truth(dir));
    assert.equal((await build(options(dir, cacheDir))).sources, 'unchanged');
    const spec = await readFile(join(dir, 'fixity.yaml'), 'utf8');
    await writeFile(join(dir, 'fixity.yaml'), spec.replace('version: 1.0.0', 'version: 1.0.1'));
    const bumped = await build(options(dir, cacheDir));
    assert.equal(bumped.sources, 'read');
    assert.equal(bumped.version, '1.0.1');
    assert.equal(bumped.digest, await truth(dir));
  });

  test('a reused build still writes its outputs: the same OCI layout as a build that reads the sources', async () => {
    const dir = await source('layout');
    const cacheDir = join(work, 'cache-layout');
    const first = await build(options(dir, cacheDir));
    const layout = join(work, 'layout-out');
    const again = await build(options(dir, cacheDir, { ociLayout: layout }));
    assert.equal(again.sources, 'unchanged');
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    assert.ok(index.manifests.some((m) => m.digest === first.digest));
    const blobs = await readdir(join(layout, 'blobs', 'sha256'));
    for (const digest of [first.digest, first.config.digest, ...first.layers.map((l) => l.digest)])
      assert.ok(blobs.includes(digest.slice('sha256:'.length)), `${digest} is in the layout`);
    const reading = join(work, 'layout-read');
    await build(options(dir, join(work, 'cache-layout-read'), { ociLayout: reading, watch: undefined }));
    assert.deepEqual((await readdir(join(reading, 'blobs', 'sha256'))).sort(), blobs.sort());
    assert.equal(
      await readFile(join(reading, 'index.json'), 'utf8'),
      await readFile(join(layout, 'index.json'), 'utf8'),
    );
  });

  test('other inputs than the sources (epoch, compression) are other memos', async () => {
    const dir = await source('inputs');
    const cacheDir = join(work, 'cache-inputs');
    await build(options(dir, cacheDir));
    const later = await build(options(dir, cacheDir, { sourceDateEpoch: 1_800_000_000 }));
    assert.equal(later.sources, 'read');
    assert.equal(later.sourceDateEpoch, 1_800_000_000);
    const zstd = await build(options(dir, cacheDir, { compression: 'zstd' }));
    assert.equal(zstd.sources, 'read');
    assert.match(zstd.layers[0]!.mediaType, /zstd/);
    assert.equal((await build(options(dir, cacheDir, { compression: 'zstd' }))).sources, 'unchanged');
  });

  test('a hardlinked file changed through a path outside the root is noticed', async () => {
    const dir = await source('linked');
    const outside = join(work, 'linked-outside.js');
    await writeFile(outside, 'module.exports = 1;\n');
    await rm(join(dir, 'package.json'));
    await link(outside, join(dir, 'package.json')); // included by the example's layer
    const cacheDir = join(work, 'cache-linked');
    const first = await build(options(dir, cacheDir));
    assert.equal((await build(options(dir, cacheDir))).sources, 'unchanged');
    await writeFile(outside, 'module.exports = 2;\n'); // no event under the root: the directory is not watched
    const after = await build(options(dir, cacheDir));
    assert.equal(after.sources, 'read');
    assert.notEqual(after.digest, first.digest);
    assert.equal(after.digest, await truth(dir));
  });

  test('a layer whose directory leads outside the root through a symlink is always read', async () => {
    const dir = await source('escaping');
    const elsewhere = await mkdtemp(join(work, 'elsewhere-'));
    await writeFile(join(elsewhere, 'data.txt'), 'one');
    await symlink(elsewhere, join(dir, 'data'));
    const spec = await readFile(join(dir, 'fixity.yaml'), 'utf8');
    await writeFile(
      join(dir, 'fixity.yaml'),
      spec.replace('entrypoint:', '  - from: data\n    to: /data\nentrypoint:'),
    );
    const cacheDir = join(work, 'cache-escaping');
    await build(options(dir, cacheDir));
    const again = await build(options(dir, cacheDir));
    assert.equal(again.sources, 'read');
    await writeFile(join(elsewhere, 'data.txt'), 'two');
    assert.equal((await build(options(dir, cacheDir))).digest, await truth(dir));
  });

  test('a memo whose layers or SBOM were pruned, or that names another image, is not used', async () => {
    const dir = await source('pruned');
    const cacheDir = join(work, 'cache-pruned');
    const first = await build(options(dir, cacheDir));
    await rm(join(cacheDir, 'layers'), { recursive: true });
    const relayered = await build(options(dir, cacheDir));
    assert.equal(relayered.sources, 'read');
    assert.equal(relayered.digest, first.digest);
    await rm(join(cacheDir, 'evidence'), { recursive: true });
    assert.equal((await build(options(dir, cacheDir))).sources, 'read');
    // A memo naming another digest (its inputs missed something) is dropped, and the sources read.
    const [memo] = await readdir(join(cacheDir, 'builds'));
    const path = join(cacheDir, 'builds', memo!);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(first.digest, `sha256:${'0'.repeat(64)}`));
    const rebuilt = await build(options(dir, cacheDir));
    assert.equal(rebuilt.sources, 'read');
    assert.equal(rebuilt.digest, first.digest);
    await writeFile(path, '{not json');
    assert.equal((await build(options(dir, cacheDir))).sources, 'read');
  });

  test('--no-cache never asks the watcher', async () => {
    const dir = await source('nocache');
    const cacheDir = join(work, 'cache-nocache');
    const asked = { n: 0 };
    const counting = {
      sync: (root: string) => {
        asked.n++;
        return watch().sync(root);
      },
    };
    await build(options(dir, cacheDir, { noCache: true, watch: counting }));
    assert.equal(asked.n, 0);
  });
});

describe('fixity build and the file watcher', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-build-watch-cli-'));
  });
  after(async () => {
    await ask(watchSocket(join(work, 'watch')), { op: 'stop' }, 2000);
    await rm(work, { recursive: true, force: true });
  });
  const sources = (r: CLIResult) => {
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { sources: string }).sources;
  };

  test('the first build starts the watcher; the next one, unchanged, reuses it; --no-watch reads', async () => {
    const dir = join(work, 'app');
    await cp(HELLO, dir, { recursive: true });
    const env = {
      XDG_CACHE_HOME: join(work, 'xdg'),
      FIXITY_WATCH_DIR: join(work, 'watch'),
      FIXITY_BUILD_WATCH: '1',
      SOURCE_DATE_EPOCH: '1700000000',
    };
    assert.equal(sources(await runCLI(['build', dir, '--json'], { env })), 'read');
    assert.equal(sources(await runCLI(['build', dir, '--json'], { env })), 'unchanged');
    assert.equal(sources(await runCLI(['build', dir, '--json', '--no-watch'], { env })), 'read');
    const status = await ask(watchSocket(env.FIXITY_WATCH_DIR), { op: 'status' }, 2000);
    assert.ok('answer' in status && status.answer.ok === true);
    // fixity doctor names it (no server runs here, so the run itself fails on that check).
    const doctor = JSON.parse((await runCLI(['doctor', '--json'], { env })).stdout) as {
      checks: Array<{ name: string; detail: string }>;
    };
    const watcher = doctor.checks.find((c) => c.name === 'file watcher');
    assert.match(watcher?.detail ?? '', /^running \(pid \d+\): 1 source root\(s\), \d+ directories watched$/);
  });

  test('through bin/fixity.js an unchanged build is done in its one process; one that reads runs in a second, with the build V8 flags', async () => {
    const dir = join(work, 'bin');
    await cp(HELLO, dir, { recursive: true });
    // Every Node process of the run notes its script and flags (NODE_OPTIONS reaches each; execArgv omits it).
    const log = join(work, 'processes.log');
    const preload = join(work, 'note-process.mjs');
    await writeFile(
      preload,
      "import { appendFileSync } from 'node:fs';\n" +
        'appendFileSync(process.env.NOTE_PROCESSES, JSON.stringify([process.argv[1], ...process.execArgv]) + "\\n");\n',
    );
    const env = {
      XDG_CACHE_HOME: join(work, 'xdg-bin'),
      FIXITY_WATCH_DIR: join(work, 'watch'), // shared with the test above; stopped after the suite
      FIXITY_BUILD_WATCH: '1',
      SOURCE_DATE_EPOCH: '1700000000',
      NODE_OPTIONS: `--import=${preload}`,
      NOTE_PROCESSES: log,
    };
    const bin = join(ROOT, 'bin/fixity.js');
    const main = join(ROOT, 'src/cli/main.ts');
    const processes = async (args: string[]) => {
      await rm(log, { force: true });
      const result = await run(NODE, [bin, 'build', dir, '--json', ...args], { env });
      const lines = (await readFile(log, 'utf8')).trim().split('\n');
      const noted = lines.map((l) => JSON.parse(l) as string[]);
      // Left out: the watcher's own process, when this build is the one that starts it.
      return { sources: sources(result), processes: noted.filter(([script]) => script === bin || script === main) };
    };
    const twice = [[bin], [main, '--max-semi-space-size=4', '--expose-gc']];
    assert.deepEqual(await processes([]), { sources: 'read', processes: twice });
    assert.deepEqual(await processes([]), { sources: 'unchanged', processes: [[bin]] });
    assert.deepEqual(await processes(['--no-watch']), { sources: 'read', processes: twice });
  });

  test('in CI no watcher is started unless FIXITY_BUILD_WATCH=1', async () => {
    const dir = join(work, 'ci');
    await cp(HELLO, dir, { recursive: true });
    const watchDir = join(work, 'ci-watch');
    const env = {
      XDG_CACHE_HOME: join(work, 'xdg-ci'),
      FIXITY_WATCH_DIR: watchDir,
      CI: 'true',
      FIXITY_BUILD_WATCH: '',
    };
    assert.equal(sources(await runCLI(['build', dir, '--json'], { env })), 'read');
    assert.equal(sources(await runCLI(['build', dir, '--json'], { env })), 'read');
    await assert.rejects(readdir(watchDir), { code: 'ENOENT' });
  });
});
