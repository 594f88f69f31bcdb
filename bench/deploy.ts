/**
 * Deployments, in one run: the traffic router against nginx and a direct connection (bench/deploy-router.ts,
 * run as a child), the time from a deploy request to a finished 3-replica rolling update on a real server
 * (health-check time reported apart), and the start overhead of the bubblewrap sandbox over a plain process.
 *
 *   npm run bench:deploy -- [--router-duration 5] [--connections 32] [--rate 2000] [--rate-connections 8]
 *                           [--rollouts 10] [--runs 20] [--only sandbox,rolling,router] [--json]
 *
 * Progress goes to stderr; the tables (or JSON) go to stdout.
 */
import { mkdtempSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { removeTree } from '../src/runtime/unpack.ts';
import { cleanupAll, log, onCleanup, processesMatching } from './deploy-lib/processes.ts';
import { measureRollingUpdate, READINESS_INTERVAL_MS, type RollingResult } from './deploy-lib/rolling-update.ts';
import { describeRounds, type RouterResult, routerTable, runRouterBench } from './deploy-lib/router-peer.ts';
import { measureSandboxStart, type SandboxStartResult } from './deploy-lib/sandbox-start.ts';
import { fmt, renderTable } from './lib/stats.ts';

const TARGET_RATIO = 0.6;
const TARGET_ADDED_P99_MS = 1;
const TARGET_ROLLING_MS = 2000;
const PARTS = ['sandbox', 'rolling', 'router'] as const;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      'router-duration': { type: 'string', default: '5' },
      connections: { type: 'string', default: '32' },
      rate: { type: 'string', default: '2000' },
      'rate-connections': { type: 'string', default: '8' },
      rollouts: { type: 'string', default: '10' },
      runs: { type: 'string', default: '20' },
      only: { type: 'string', default: PARTS.join(',') },
      json: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`Cannot run: --${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const only = values.only.split(',').map((s) => s.trim());
  for (const p of only) {
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`Cannot run: --only takes ${PARTS.join(',')}`);
  }
  return {
    router: {
      durationS: positive('router-duration', values['router-duration']),
      connections: positive('connections', values.connections),
      rate: positive('rate', values.rate),
      rateConnections: positive('rate-connections', values['rate-connections']),
    },
    rollouts: positive('rollouts', values.rollouts),
    runs: positive('runs', values.runs),
    only: new Set(only),
    json: values.json,
  };
}

const ms = (n: number | undefined) => fmt(n);
const met = (ok: boolean) => (ok ? 'yes' : 'NO');
const signed = (n: number) => `${n < 0 ? '−' : '+'}${fmt(Math.abs(n))}`;

function report(machine: string, sandbox?: SandboxStartResult, rolling?: RollingResult, router?: RouterResult): void {
  console.log(`machine: ${machine}\n`);
  const targets: string[][] = [];
  if (router !== undefined) {
    const r = router.options;
    console.log(
      `Router — closed loop ${r.connections} connections × ${r.durationMs / 1000} s; fixed ${r.rate} req/s over ${r.rateConnections} connections × ${r.durationMs / 1000} s; median of ${r.rounds} rounds, targets interleaved\n`,
    );
    console.log(routerTable(router.max, router.fixed));
    console.log(`${describeRounds(router.perRound)}\n`);
    targets.push(
      ['router req/s ÷ nginx', `${router.ratio.toFixed(2)}×`, `≥ ${TARGET_RATIO}×`, met(router.ratio >= TARGET_RATIO)],
      [
        `router added p99 at ${r.rate} req/s (− direct)`,
        `${router.addedP99Ms.toFixed(2)} ms`,
        `≤ ${TARGET_ADDED_P99_MS} ms`,
        met(router.addedP99Ms <= TARGET_ADDED_P99_MS),
      ],
      [`nginx added p99 at ${r.rate} req/s (for scale)`, `${router.addedNginx.toFixed(2)} ms`, '', ''],
      ['router req/s ÷ nginx with 1 worker (for scale)', `${router.ratio1.toFixed(2)}×`, '', ''],
    );
  }
  if (rolling !== undefined) {
    console.log(
      `Rolling update — 3 replicas, maxSurge 3, maxUnavailable 0, readiness every ${READINESS_INTERVAL_MS} ms; ${rolling.rollouts.length} updates (first deploy: ${fmt(rolling.initialMs)} ms)\n`,
    );
    const line = (name: string, s: RollingResult['raw']) => [name, ms(s.median), ms(s.p90), ms(s.min), ms(s.max)];
    console.log(
      renderTable(
        ['ms (POST deployments → status completed)', 'median', 'p90', 'min', 'max'],
        [
          line('raw', rolling.raw),
          line('health delay: last-ready new instance, start → ready', rolling.health),
          line('raw − health delay', rolling.excludingHealth),
          line('  POST → first new instance started', rolling.toFirstStart),
          line('  POST → last new instance started', rolling.toLastStart),
          line('  last new instance ready → completed', rolling.afterReady),
          line('health delay, mean of the 3 new instances', rolling.healthMean),
        ],
      ),
    );
    console.log(`runs (raw ms): ${rolling.raw.runs.join(', ')}\n`);
    targets.push(
      [
        'rolling update, health delay excluded (median)',
        `${fmt(rolling.excludingHealth.median)} ms`,
        `≤ ${TARGET_ROLLING_MS} ms`,
        met(rolling.excludingHealth.median <= TARGET_ROLLING_MS),
      ],
      [
        'rolling update, health delay excluded (p90)',
        `${fmt(rolling.excludingHealth.p90)} ms`,
        `≤ ${TARGET_ROLLING_MS} ms`,
        met(rolling.excludingHealth.p90 <= TARGET_ROLLING_MS),
      ],
      ['rolling update, raw (median)', `${fmt(rolling.raw.median)} ms`, '', ''],
    );
  }
  if (sandbox !== undefined) {
    console.log(`Sandbox start — ${sandbox.plainHttp.runs.length} runs each, interleaved; ${sandbox.bwrap}\n`);
    const line = (name: string, s: SandboxStartResult['plainHttp']) => [name, ms(s.median), ms(s.p90), ms(s.min)];
    console.log(
      renderTable(
        ['ms', 'median', 'p90', 'min'],
        [
          line('node server.js, spawn → HTTP 200 (plain)', sandbox.plainHttp),
          line('same under bubblewrap, runtime arguments', sandbox.sandboxHttp),
          line('`true` (plain)', sandbox.plainTrue),
          line('`bwrap --ro-bind / / true`', sandbox.bareBwrapTrue),
          line('bubblewrap, runtime arguments, `true`', sandbox.runtimeBwrapTrue),
        ],
      ),
    );
    console.log('');
    const http = sandbox.sandboxHttp.median - sandbox.plainHttp.median;
    targets.push(
      [
        'sandbox start overhead, to HTTP (median; p90)',
        `${signed(http)}; ${signed(sandbox.sandboxHttp.p90 - sandbox.plainHttp.p90)} ms`,
        'report',
        '',
      ],
      [
        'bubblewrap set-up alone (bare; runtime arguments)',
        `${signed(sandbox.bareBwrapTrue.median - sandbox.plainTrue.median)}; ${signed(sandbox.runtimeBwrapTrue.median - sandbox.plainTrue.median)} ms`,
        'report',
        '',
      ],
    );
  }
  console.log(renderTable(['target', 'figure', 'goal', 'met'], targets));
}

async function main(): Promise<void> {
  const o = parseOptions();
  const work = mkdtempSync(join(tmpdir(), 'fixity-bench-deploy-'));
  // Unpacked roots and the sandbox root are read-only: removeTree makes them writable first.
  onCleanup(() => removeTree(work));
  const load0 = loadavg()[0] ?? 0;
  let sandbox: SandboxStartResult | undefined;
  let rolling: RollingResult | undefined;
  let router: RouterResult | undefined;
  try {
    if (o.only.has('sandbox')) sandbox = await measureSandboxStart(join(work, 'sandbox'), o.runs);
    if (o.only.has('rolling')) rolling = await measureRollingUpdate(join(work, 'rolling'), o.rollouts);
    if (o.only.has('router')) {
      log('router vs nginx vs direct: bench/deploy-router.ts --json');
      router = await runRouterBench(o.router);
    }
  } finally {
    await cleanupAll();
  }
  // Every bubblewrap of ours names a root inside `work`; other sessions' instances live elsewhere.
  const leftover = processesMatching((c) => c.includes(work));
  if (leftover.length > 0 || (rolling?.leftover.length ?? 0) > 0) {
    log(`WARNING: instances outlived the server: ${JSON.stringify([...leftover, ...(rolling?.leftover ?? [])])}`);
  }
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), load ${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}, node ${process.version}`;
  if (o.json) {
    const options = { ...o, only: [...o.only] };
    console.log(JSON.stringify({ options, machine, sandbox, rolling, router }, null, 2));
    return;
  }
  report(machine, sandbox, rolling, router);
}

main().catch(async (error: unknown) => {
  await cleanupAll();
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
process.on('SIGINT', () => {
  void cleanupAll().then(() => process.exit(130));
});
