/**
 * Start overhead of the bubblewrap sandbox: time from spawn() to the hello server answering GET /healthz,
 * run as a plain process and under bubblewrap with exactly the arguments the runtime builds
 * (`planLaunch` from src/runtime/sandbox.ts, on a root holding app/server.js), interleaved; and the
 * sandbox set-up alone (`true` vs `bwrap --ro-bind / / true` vs the runtime's arguments running `true`).
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { detectSandbox, type LaunchPlan, planLaunch, type SandboxSupport } from '../../src/runtime/sandbox.ts';
import { median, percentile } from '../lib/stats.ts';
import { descendants, exited, log, machineBusy, signal, track } from './processes.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

export interface Sample {
  median: number;
  p90: number;
  min: number;
  max: number;
  runs: number[];
}

export interface SandboxStartResult {
  bwrap: string;
  userNamespace: boolean;
  /** spawn → first 200 from GET /healthz. */
  plainHttp: Sample;
  sandboxHttp: Sample;
  /** spawn → exit of `true`. */
  plainTrue: Sample;
  bareBwrapTrue: Sample;
  runtimeBwrapTrue: Sample;
  /** The runtime's bubblewrap command line for the hello server (for the record). */
  sandboxArgv: string[];
  machine: { busyCores: number; load1: number };
}

export const sample = (runs: number[]): Sample => ({
  median: median(runs),
  p90: percentile(runs, 90),
  min: Math.min(...runs),
  max: Math.max(...runs),
  runs: runs.map((r) => Math.round(r * 100) / 100),
});

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/** One GET /healthz on a fresh connection: true on a 200, false when nothing listens yet. */
function probe(port: number): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
    req.end();
  });
}

/** Spawns the plan and returns ms until the server answers; then stops the whole process tree. */
async function timeToHttp(plan: LaunchPlan, port: number): Promise<number> {
  const t0 = performance.now();
  const child = track(
    spawn(plan.argv[0]!, plan.argv.slice(1), { cwd: plan.cwd, env: plan.env, stdio: 'ignore', detached: true }),
  );
  let failed: Error | undefined;
  child.once('error', (e) => {
    failed = e;
  });
  try {
    for (;;) {
      if (failed !== undefined) throw failed;
      if (child.exitCode !== null) throw new Error(`Cannot time the start: ${plan.argv[0]} exited ${child.exitCode}`);
      if (await probe(port)) return performance.now() - t0;
      if (performance.now() - t0 > 10_000) throw new Error('Cannot time the start: no answer within 10 s');
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    // The sandboxed node runs in its own session below bubblewrap's init: signal the tree, not a group.
    for (const pid of [...descendants(child.pid ?? 0).reverse(), child.pid ?? 0]) if (pid > 0) signal(pid, 'SIGTERM');
    await exited(child, 2000);
  }
}

/** Spawns a command that exits at once and returns ms until it has exited (status 0 required). */
function timeToExit(argv: readonly string[]): Promise<number> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const child = track(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', env: {} }));
    child.once('error', fail);
    child.once('exit', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) ok(ms);
      else fail(new Error(`Cannot time ${argv.join(' ')}: exit ${code}`));
    });
  });
}

/** The hello server's files laid out as an image root would be (read-only, like an unpacked root). */
function makeRoot(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'app'), { recursive: true });
  for (const f of ['server.js', 'package.json'])
    copyFileSync(join(repoRoot, 'examples/hello', f), join(root, 'app', f));
  chmodSync(join(root, 'app'), 0o555);
  chmodSync(root, 0o555);
  return root;
}

export async function measureSandboxStart(workDir: string, runs: number): Promise<SandboxStartResult> {
  const support: SandboxSupport = await detectSandbox('auto');
  if (support.bwrap === null)
    throw new Error('Cannot measure the sandbox: no usable bubblewrap (apt-get install bubblewrap)');
  const root = makeRoot(workDir);
  const plan = async (sandbox: SandboxSupport, port: number) =>
    planLaunch({
      root,
      argv: ['node', '/app/server.js'],
      // What the local driver passes: the image env, the release env, PORT and the FIXITY_* labels.
      env: { PORT: String(port), GREETING: 'bench', FIXITY_RELEASE: 'bench', FIXITY_INSTANCE: 'bench' },
      workingDir: '/app',
      user: '1000:1000',
      hostBinaries: { node: process.execPath },
      support: sandbox,
    });
  const none: SandboxSupport = { bwrap: null, userNamespace: false };
  const sandboxArgv = [...(await plan(support, 8080)).argv];
  const cut = sandboxArgv.indexOf('--');
  const runtimeTrue = [...sandboxArgv.slice(0, cut + 1), '/usr/bin/true'];
  const bare = [support.bwrap, '--ro-bind', '/', '/', '/usr/bin/true'];
  const busy = machineBusy();
  const plainHttp: number[] = [];
  const sandboxHttp: number[] = [];
  const plainTrue: number[] = [];
  const bareTrue: number[] = [];
  const runtimeTrueRuns: number[] = [];
  log(`sandbox start: ${runs} runs each (+2 warm-up), plain and bubblewrap interleaved`);
  for (let i = -2; i < runs; i++) {
    const keep = i >= 0;
    const portA = await freePort();
    const a = await timeToHttp(await plan(none, portA), portA);
    const portB = await freePort();
    const b = await timeToHttp(await plan(support, portB), portB);
    const c = await timeToExit(['/usr/bin/true']);
    const d = await timeToExit(bare);
    const e = await timeToExit(runtimeTrue);
    if (keep) {
      plainHttp.push(a);
      sandboxHttp.push(b);
      plainTrue.push(c);
      bareTrue.push(d);
      runtimeTrueRuns.push(e);
    }
  }
  return {
    bwrap: support.bwrap,
    userNamespace: support.userNamespace,
    plainHttp: sample(plainHttp),
    sandboxHttp: sample(sandboxHttp),
    plainTrue: sample(plainTrue),
    bareBwrapTrue: sample(bareTrue),
    runtimeBwrapTrue: sample(runtimeTrueRuns),
    sandboxArgv,
    machine: busy(),
  };
}
