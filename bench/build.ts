/**
 * `fixity build` of a realistic node_modules (~90k files, ~270 MB) against GNU tar piped to gzip and to pigz,
 * side by side in one run, cold and warm, with peak memory; and the floor of a cold build on this machine, the
 * same tar through Fixity's own compressor with nothing else (build-lib/compress-floor.ts).
 *
 *   npm run bench:build -- [--repeat N] [--json]
 *
 * Progress goes to stderr; the table (or, with --json, one JSON document) goes to stdout. Every measurement
 * is preceded by reading the tree once, so all of them start from a warm page cache.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ask, watchSocket } from '../src/build/fs-watch.ts';
import { hasCommand, median, run } from './build-lib/run.ts';
import { ensureTree } from './build-lib/tree.ts';
import { perRun, spread } from './lib/report.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const workDir = join(repoRoot, 'bench', '.work', 'build');
// What `npx fixity` runs: the launcher, which starts the CLI with the flags a build wants.
const CLI = [process.execPath, join(repoRoot, 'bin', 'fixity.js')];
// The part of a cold build that no faster code can leave out (see the script).
const FLOOR = join(repoRoot, 'bench', 'build-lib', 'compress-floor.ts');
const TAR = 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c node_modules';

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

function parseOptions(): { repeat: number; json: boolean } {
  const { values } = parseArgs({
    options: { repeat: { type: 'string', default: '1' }, json: { type: 'boolean', default: false } },
  });
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat <= 0) throw new Error(`--repeat must be a positive integer`);
  return { repeat, json: values.json };
}

type Key = 'tarGzip' | 'tarPigz' | 'floor' | 'cold' | 'prime' | 'warm' | 'warmRead' | 'coldZstd' | 'coldFast';
const LABELS: Record<Key, string> = {
  tarGzip: 'tar | gzip -6 -n',
  tarPigz: 'tar | pigz -6 -n (all cores)',
  floor: "floor: tar | Fixity's gzip -6 (all cores), nothing else",
  cold: 'fixity build --no-cache (cold)',
  prime: 'fixity build, empty cache (fills it)',
  warm: 'fixity build, warm cache, nothing changed (file watcher)',
  warmRead: 'fixity build, warm cache, nothing changed, --no-watch (tree read)',
  coldZstd: 'fixity build --no-cache --compression zstd',
  coldFast: 'fixity build --no-cache --compression-level 1',
};

async function main(): Promise<void> {
  const options = parseOptions();
  const tree = await ensureTree(join(workDir, 'tree'), log);
  const pigz = await hasCommand('pigz');
  if (!pigz) log('pigz is not installed (apt-get install -y pigz); its row is left out');
  const samples: Record<Key, Array<{ seconds: number; peakMiB: number | null }>> = {
    tarGzip: [],
    tarPigz: [],
    floor: [],
    cold: [],
    prime: [],
    warm: [],
    warmRead: [],
    coldZstd: [],
    coldFast: [],
  };
  // Compressed layer bytes of each kind of build (the last run's): what a faster level costs in size.
  const layerBytes = new Map<Key, number>();
  // The tree sits inside this checkout, so its image records the checkout's HEAD as source revision: a commit
  // landing between repetitions changes the digest. Cold, primed and warm builds of one repetition must agree.
  const digests: string[] = [];
  let runDigests = new Set<string>();
  const warmPageCache = () => run(`cd ${tree.dir} && ${TAR} | cat > /dev/null`);
  // The file watcher the builds start (and this benchmark stops), in a directory of the benchmark's own.
  const watch = { FIXITY_WATCH_DIR: join(workDir, 'watch'), FIXITY_BUILD_WATCH: '1' };
  const fixity = async (key: Key, cacheHome: string, flags: string[]) => {
    await warmPageCache();
    log(`${LABELS[key]}`);
    const r = await run([...CLI, 'build', tree.dir, '--json', ...flags], { XDG_CACHE_HOME: cacheHome, ...watch });
    samples[key].push(r);
    const result = JSON.parse(r.stdout) as { digest: string; layers: Array<{ size: number }>; sources: string };
    // A warm build that read the tree after all would be the other row: say so rather than mislabel it.
    if ((key === 'warm') !== (result.sources === 'unchanged'))
      throw new Error(`${LABELS[key]}: the build says its sources were ${result.sources}`);
    layerBytes.set(
      key,
      result.layers.reduce((sum, l) => sum + l.size, 0),
    );
    if (key !== 'coldZstd' && key !== 'coldFast') runDigests.add(result.digest);
  };
  for (let i = 0; i < options.repeat; i++) {
    log(`run ${i + 1}/${options.repeat}`);
    await warmPageCache();
    log(LABELS.tarGzip);
    samples.tarGzip.push(await run(`cd ${tree.dir} && ${TAR} | gzip -6 -n > /dev/null`));
    if (pigz) {
      await warmPageCache();
      log(LABELS.tarPigz);
      samples.tarPigz.push(await run(`cd ${tree.dir} && ${TAR} | pigz -6 -n > /dev/null`));
    }
    await warmPageCache();
    log(LABELS.floor);
    const floor = await run(`cd ${tree.dir} && ${TAR} | ${CLI[0]} ${FLOOR}`);
    samples.floor.push(floor);
    layerBytes.set('floor', Number(floor.stdout));
    runDigests = new Set();
    const cacheHome = await mkdtemp(join(workDir, 'cache-'));
    try {
      await fixity('cold', cacheHome, ['--no-cache']);
      await rm(cacheHome, { recursive: true, force: true });
      await fixity('prime', cacheHome, []);
      await fixity('warm', cacheHome, []);
      await fixity('warmRead', cacheHome, ['--no-watch']);
      await rm(cacheHome, { recursive: true, force: true });
      await fixity('coldZstd', cacheHome, ['--no-cache', '--compression', 'zstd']);
      await fixity('coldFast', cacheHome, ['--no-cache', '--compression-level', '1']);
    } finally {
      await rm(cacheHome, { recursive: true, force: true });
    }
    if (runDigests.size !== 1)
      throw new Error(`cold, primed and warm builds gave different digests: ${[...runDigests]}`);
    digests.push(...runDigests);
  }
  const watcher = await stopWatcher(watch.FIXITY_WATCH_DIR);

  const seconds = (key: Key) => (samples[key].length > 0 ? median(samples[key].map((s) => s.seconds)) : null);
  const peak = (key: Key) => {
    const values = samples[key].map((s) => s.peakMiB).filter((v): v is number => v !== null);
    return values.length > 0 ? median(values) : null;
  };
  const ratio = (a: number | null, b: number | null) => (a === null || b === null ? null : a / b);
  const runs = (a: Key, b: Key) =>
    perRun(
      samples[a].map((s) => s.seconds),
      samples[b].map((s) => s.seconds),
    );
  const peakMiB = Math.max(...(['cold', 'prime', 'warm'] as const).map((k) => peak(k) ?? 0));
  const targets = [
    {
      name: 'cold / (tar | gzip)',
      value: ratio(seconds('cold'), seconds('tarGzip')),
      runs: runs('cold', 'tarGzip'),
      target: '≤ 0.6',
      met: (v: number) => v <= 0.6,
    },
    {
      name: 'cold / (tar | pigz)',
      value: ratio(seconds('cold'), seconds('tarPigz')),
      runs: runs('cold', 'tarPigz'),
      target: '≤ 1.0',
      met: (v: number) => v <= 1.0,
    },
    {
      name: 'floor / (tar | gzip)',
      value: ratio(seconds('floor'), seconds('tarGzip')),
      runs: runs('floor', 'tarGzip'),
      target: '(bounds the first)',
      met: () => null,
    },
    {
      name: 'floor / (tar | pigz)',
      value: ratio(seconds('floor'), seconds('tarPigz')),
      runs: runs('floor', 'tarPigz'),
      target: '(bounds the second)',
      met: () => null,
    },
    {
      name: 'cold / warm',
      value: ratio(seconds('cold'), seconds('warm')),
      runs: runs('cold', 'warm'),
      target: '≥ 20',
      met: (v: number) => v >= 20,
    },
    {
      name: 'cold / warm --no-watch',
      value: ratio(seconds('cold'), seconds('warmRead')),
      runs: runs('cold', 'warmRead'),
      target: '(no target)',
      met: () => null,
    },
    {
      name: 'peak memory, MiB',
      value: peakMiB > 0 ? peakMiB : null,
      runs: [],
      target: '< 300',
      met: (v: number) => v < 300,
    },
  ].map((t) => ({ ...t, met: t.value === null ? null : t.met(t.value) }));

  const machine = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
  };
  const command = `npm run bench:build -- --repeat ${options.repeat}${options.json ? ' --json' : ''}`;
  const measurements = (Object.keys(LABELS) as Key[])
    .filter((key) => samples[key].length > 0)
    .map((key) => ({
      key,
      label: LABELS[key],
      seconds: seconds(key),
      peakMiB: peak(key),
      layerBytes: layerBytes.get(key) ?? null,
      runs: samples[key],
    }));
  if (options.json) {
    const tree_ = { files: tree.files, directories: tree.directories, bytes: tree.bytes };
    process.stdout.write(
      `${JSON.stringify({ command, machine, tree: tree_, digests, measurements, targets, watcher }, null, 2)}\n`,
    );
    return;
  }
  const fmt = (v: number | null, digits = 2) => (v === null ? 'n/a' : v.toFixed(digits));
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const lines = [
    `${command}`,
    `${machine.date}  ${machine.cpus} × ${machine.cpu}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`,
    `tree: ${tree.files.toLocaleString('en-US')} files, ${tree.directories.toLocaleString('en-US')} directories, ${(tree.bytes / 1e6).toFixed(0)} MB; medians of ${options.repeat}`,
    '',
    '| measurement | seconds | peak RSS MiB | layer MB |',
    '|---|---:|---:|---:|',
    ...measurements.map((m) => {
      const bytes = layerBytes.get(m.key);
      return `| ${cell(m.label)} | ${fmt(m.seconds)} | ${fmt(m.peakMiB, 0)} | ${bytes === undefined ? '' : fmt(bytes / 1e6, 1)} |`;
    }),
    '',
    '| ratio | value | runs | target | met |',
    '|---|---:|---:|---|---|',
    ...targets.map(
      (t) =>
        `| ${cell(t.name)} | ${fmt(t.value)} | ${spread(t.runs).replace('×', '')} | ${t.target} | ${t.met === null ? 'n/a' : t.met ? 'yes' : 'NO'} |`,
    ),
    '',
    floorNote(seconds('floor'), seconds('tarGzip'), seconds('tarPigz')),
    '',
    watcher === null
      ? 'file watcher: did not answer'
      : `file watcher (a process of its own, stopped now): ${watcher.watches.toLocaleString('en-US')} directories watched, peak RSS ${fmt(watcher.peakMiB, 0)} MiB`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

// What the floor leaves a cold build for everything else within each target.
function floorNote(floor: number | null, gzip: number | null, pigz: number | null): string {
  if (floor === null || gzip === null) return 'floor: not measured';
  const within = (name: string, seconds: number) => {
    const left = seconds - floor;
    const rest = left > 0 ? `${left.toFixed(2)} s left` : `none left (${(-left).toFixed(2)} s short)`;
    return `${name} = ${seconds.toFixed(2)} s, ${rest}`;
  };
  const targets = [
    within('≤ 0.6 × tar | gzip', 0.6 * gzip),
    ...(pigz === null ? [] : [within('≤ 1.0 × tar | pigz', pigz)]),
  ];
  return (
    `A cold build does all the floor does (${floor.toFixed(2)} s) and also walks, hashes and scans every file and writes ` +
    `the SBOM and the image. Within the targets that leaves: ${targets.join('; ')}.`
  );
}

// The watcher's size (its peak RSS from /proc), then stops it; null when none answers.
async function stopWatcher(dir: string): Promise<{ watches: number; peakMiB: number | null } | null> {
  const status = await ask(watchSocket(dir), { op: 'status' }, 2000);
  if (!('answer' in status)) return null;
  const { pid, watches } = status.answer as { pid: number; watches: number };
  const hwm = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
  await ask(watchSocket(dir), { op: 'stop' }, 2000);
  return { watches, peakMiB: hwm ? Number(hwm[1]) / 1024 : null };
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
