/**
 * Side-by-side benchmark of Fixity's OCI registry against Debian's reference registry
 * (`docker-registry`, distribution 2.8): same client code, same machine, one run, plus the
 * machine's own limits measured in the same run. Big pulls are timed twice: through the Node client, which
 * hashes what it reads (it tops out near 650 MB/s on this machine, whichever server sends), and through
 * curl to /dev/null, which measures what each server can send; the target is read off curl's row.
 *
 *   npm run bench:registry -- [--sizes 256,1024] [--only fixity|peer] [--quick] [--repeat N] [--json]
 *                             [--small N] [--requests N]
 *
 * Progress goes to stderr; the table (or, with --json, one JSON document) goes to stdout.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { imageManifest, OCI_MANIFEST, RegistryClient } from './lib/client.ts';
import { createRandomFile, hashWriteLimit, MiB, readHashLimit, readLimit, smallWriteLimit } from './lib/machine.ts';
import { type PhaseUsage, watchProcess } from './lib/proc.ts';
import { Results, type RowSpec, renderText } from './lib/report.ts';
import {
  bigPull,
  bigPush,
  curlPull,
  manifestGets,
  pushImage,
  randomBlobs,
  smallPushes,
  type Target,
} from './lib/scenarios.ts';
import {
  killAllChildren,
  MissingPeer,
  type ServerHandle,
  startFixity,
  startLoopback,
  startPeer,
} from './lib/servers.ts';
import { percentile } from './lib/stats.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const SMALL_SIZE = 4096;
const SMALL_CONCURRENCY = 8;
const MANIFEST_CONCURRENCY = 32;

interface Options {
  sizes: number[];
  sides: Array<'fixity' | 'peer'>;
  repeat: number;
  small: number;
  requests: number;
  json: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string', default: '1' },
      small: { type: 'string' },
      requests: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const sizes = (values.sizes ?? (values.quick ? '64' : '256,1024')).split(',').map((s) => positive('sizes', s.trim()));
  if (values.only !== undefined && values.only !== 'fixity' && values.only !== 'peer') {
    throw new Error(`--only must be "fixity" or "peer", got "${values.only}"`);
  }
  return {
    sizes,
    sides: values.only === undefined ? ['fixity', 'peer'] : [values.only],
    repeat: positive('repeat', values.repeat),
    small: positive('small', values.small ?? (values.quick ? '200' : '1000')),
    requests: positive('requests', values.requests ?? (values.quick ? '5000' : '20000')),
    json: values.json,
  };
}

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

/** Runs `fn`, recording its failure against `row` for this server instead of aborting the whole run. */
async function attempt<T>(results: Results, id: string, spec: RowSpec, target: Target, fn: () => Promise<T>) {
  try {
    return await fn();
  } catch (error) {
    log(`${target.name}: ${spec.scenario} failed: ${error instanceof Error ? error.message : String(error)}`);
    results.fail(id, spec, target.name, error);
    return undefined;
  }
}

async function runBig(options: Options, targets: Target[], results: Results, workDir: string): Promise<void> {
  for (const mib of options.sizes) {
    const size = mib * MiB;
    const file = join(workDir, 'files', `random-${mib}MiB.bin`);
    log(`creating ${mib} MiB random test file`);
    await createRandomFile(file, size);
    const push: RowSpec = { scenario: `push ${mib} MiB blob`, unit: 'MB/s', target: 1.5, kind: 'throughput' };
    const pull: RowSpec = { scenario: `pull ${mib} MiB blob`, unit: 'MB/s', target: 1.0, kind: 'throughput' };
    // The Node client hashing what it pulls tops out near 650 MB/s here whatever serves it (at ~110% CPU),
    // so it measures itself; curl measures the registries. Both rows are kept: the first is what a client
    // that checks the digest as it reads gets, the second what each server can send.
    const pullNode: RowSpec = {
      scenario: `pull ${mib} MiB blob, Node client hashing`,
      unit: 'MB/s',
      kind: 'throughput',
    };
    for (let r = 0; r < options.repeat; r++) {
      for (const target of order(targets, r)) {
        log(`${target.name}: push + pull ${mib} MiB (run ${r + 1}/${options.repeat})`);
        const pushed = await attempt(results, `push-${mib}`, push, target, () =>
          bigPush(target, 'bench/big', file, size),
        );
        if (!pushed) continue;
        results.add(`push-${mib}`, push, target.name, pushed.mbs);
        results.addUsage(`${mib} MiB push`, target.name, pushed.usage);
        const hashed = await attempt(results, `pull-node-${mib}`, pullNode, target, () =>
          bigPull(target, 'bench/big', pushed.digest, size),
        );
        if (!hashed) continue;
        results.add(`pull-node-${mib}`, pullNode, target.name, hashed.mbs);
        const pulled = await attempt(results, `pull-${mib}`, pull, target, () =>
          curlPull(target, 'bench/big', pushed.digest, size),
        );
        if (!pulled) continue;
        results.add(`pull-${mib}`, pull, target.name, pulled.mbs);
        results.addUsage(`${mib} MiB pull`, target.name, pulled.usage);
      }
      log(`limit: sha256 + fsync'd write, read (+ sha256) of ${mib} MiB`);
      results.add(`push-${mib}`, push, 'limit', await hashWriteLimit(file, join(workDir, 'limit')));
      results.add(`pull-${mib}`, pull, 'limit', await readLimit(file));
      results.add(`pull-node-${mib}`, pullNode, 'limit', await readHashLimit(file));
    }
    await rm(file, { force: true });
  }
}

async function runSmall(options: Options, targets: Target[], results: Results, workDir: string): Promise<void> {
  const label = `${options.small.toLocaleString('en-US')} × 4 KiB pushes, c=${SMALL_CONCURRENCY}`;
  const ops: RowSpec = { scenario: label, unit: 'ops/s', target: 3.0, kind: 'throughput' };
  const p50: RowSpec = { scenario: `${label}, p50`, unit: 'ms', kind: 'latency' };
  const p99: RowSpec = { scenario: `${label}, p99`, unit: 'ms', kind: 'latency' };
  for (let r = 0; r < options.repeat; r++) {
    for (const target of order(targets, r)) {
      log(`${target.name}: ${label} (run ${r + 1}/${options.repeat})`);
      const blobs = randomBlobs(options.small, SMALL_SIZE);
      const res = await attempt(results, 'small', ops, target, () =>
        smallPushes(target, 'bench/small', blobs, SMALL_CONCURRENCY),
      );
      if (!res) continue;
      results.add('small', ops, target.name, res.perSecond);
      results.add('small-p50', p50, target.name, res.p50);
      results.add('small-p99', p99, target.name, res.p99);
      results.addUsage(`${options.small.toLocaleString('en-US')} × 4 KiB pushes`, target.name, res.usage);
    }
    log(`limit: ${options.small} × (write + fsync + rename)`);
    const dir = join(workDir, 'limit', `small-${r}`);
    await mkdir(dir, { recursive: true });
    const limit = await smallWriteLimit(randomBlobs(options.small, SMALL_SIZE), dir, SMALL_CONCURRENCY);
    await rm(dir, { recursive: true, force: true });
    results.add('small', ops, 'limit', limit.opsPerSecond);
    results.add('small-p50', p50, 'limit', percentile(limit.latencies, 50));
    results.add('small-p99', p99, 'limit', percentile(limit.latencies, 99));
  }
}

async function runManifest(options: Options, targets: Target[], results: Results, workDir: string): Promise<void> {
  const label = `manifest GET by digest, c=${MANIFEST_CONCURRENCY}`;
  const rps: RowSpec = { scenario: label, unit: 'req/s', target: 1.0, kind: 'throughput' };
  const p50: RowSpec = { scenario: `${label}, p50`, unit: 'ms', kind: 'latency' };
  const p99: RowSpec = { scenario: `${label}, p99`, unit: 'ms', kind: 'latency' };
  const images = new Map<Target, { digest: string; bytes: Buffer }>();
  for (const target of targets) {
    log(`${target.name}: pushing config + layer + OCI manifest`);
    const image = await attempt(results, 'manifest', rps, target, () => pushImage(target.client, 'bench/manifest'));
    if (image) images.set(target, image);
  }
  const sample = images.values().next().value ?? {
    bytes: imageManifest(Buffer.from('{}'), Buffer.from('layer')),
    digest: '',
  };
  const loopback = await startLoopback(join(workDir, 'limit'), nodeBinary(), sample.bytes, OCI_MANIFEST);
  const loopbackClient = new RegistryClient({ baseUrl: loopback.baseUrl, maxSockets: MANIFEST_CONCURRENCY });
  try {
    for (let r = 0; r < options.repeat; r++) {
      for (const target of order(targets, r)) {
        const image = images.get(target);
        if (!image) continue;
        log(`${target.name}: ${options.requests} manifest GETs (run ${r + 1}/${options.repeat})`);
        const res = await attempt(results, 'manifest', rps, target, () =>
          manifestGets(target.client, target.pid, 'bench/manifest', image, options.requests, MANIFEST_CONCURRENCY),
        );
        if (!res) continue;
        results.add('manifest', rps, target.name, res.perSecond);
        results.add('manifest-p50', p50, target.name, res.p50);
        results.add('manifest-p99', p99, target.name, res.p99);
        results.addUsage('manifest GETs', target.name, res.usage);
      }
      log('limit: bare node:http server answering the same bytes');
      const limit = await manifestGets(
        loopbackClient,
        loopback.pid,
        'x',
        sample,
        options.requests,
        MANIFEST_CONCURRENCY,
      );
      results.add('manifest', rps, 'limit', limit.perSecond);
      results.add('manifest-p50', p50, 'limit', limit.p50);
      results.add('manifest-p99', p99, 'limit', limit.p99);
    }
  } finally {
    loopbackClient.close();
    await loopback.stop();
  }
}

function nodeBinary(): string {
  const local = join(repoRoot, 'node_modules/.bin/node');
  return existsSync(local) ? local : process.execPath;
}

/** Alternates which server goes first on every repeat, so neither always runs on a fresher machine. */
function order(targets: readonly Target[], run: number): Target[] {
  return run % 2 === 0 ? [...targets] : [...targets].reverse();
}

async function idleUsage(pid: number): Promise<PhaseUsage> {
  const watcher = watchProcess(pid);
  await new Promise((r) => setTimeout(r, 500));
  return watcher.stop();
}

async function main(): Promise<void> {
  const options = parseOptions();
  const peerBin = process.env.PEER_REGISTRY_BIN ?? '/usr/bin/docker-registry';
  const workDir = join(repoRoot, 'bench/.work', `run-${Date.now()}-${process.pid}`);
  await mkdir(join(workDir, 'files'), { recursive: true });
  await mkdir(join(workDir, 'limit'), { recursive: true });
  const abort = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping servers and removing ${workDir}`);
    killAllChildren();
    rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);

  const handles: ServerHandle[] = [];
  const targets: Target[] = [];
  const results = new Results();
  let peerVersion: string | null = null;
  const started = new Date();
  const loadAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
  try {
    for (const side of options.sides) {
      const dir = join(workDir, side);
      await mkdir(dir, { recursive: true });
      log(`starting ${side}`);
      const handle = side === 'fixity' ? await startFixity(repoRoot, dir, nodeBinary()) : await startPeer(dir, peerBin);
      if (side === 'peer') peerVersion = execFileSync(peerBin, ['--version'], { encoding: 'utf8' }).trim();
      handles.push(handle);
      const auth = handle.authorization;
      const client = new RegistryClient({
        baseUrl: handle.baseUrl,
        maxSockets: MANIFEST_CONCURRENCY,
        ...(auth === undefined ? {} : { authorization: auth }),
      });
      targets.push({ name: side, pid: handle.pid, client });
      results.addUsage('idle, after start (0.5 s)', side, await idleUsage(handle.pid));
    }
    await runBig(options, targets, results, workDir);
    await runSmall(options, targets, results, workDir);
    await runManifest(options, targets, results, workDir);
  } finally {
    for (const target of targets) target.client.close();
    for (const handle of handles) await handle.stop();
    killAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }

  const rows = results.summary();
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
  };
  if (options.json) {
    const { json: _json, ...settings } = options;
    const doc = {
      date: started.toISOString(),
      machine,
      peer: peerVersion,
      options: settings,
      rows,
      usage: results.usage(),
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const header = [
    `Fixity registry benchmark, ${started.toISOString()}`,
    `machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGiB} GiB RAM, node ${machine.node}, ` +
      `load average ${machine.loadAverage.atStart.join(' ')} at start, ${machine.loadAverage.atEnd.join(' ')} at end`,
    `peer: ${peerVersion ?? 'not run'}; sizes ${options.sizes.join(', ')} MiB; repeat ${options.repeat} (median)`,
    'MB = 10^6 bytes; limit = same work without HTTP (sha256 + fsync write / read + sha256 / bare node:http)',
    '',
  ];
  process.stdout.write(`${header.join('\n')}${renderText(rows, results.usage())}\n`);
}

main().catch((error: unknown) => {
  killAllChildren();
  if (error instanceof MissingPeer) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
