/**
 * A real Fixity server for the deploy benchmark (`fixity serve` on SQLite in a temp data dir) and the CLI
 * run against it, with its own config, build cache and compile cache, so nothing of the user's is touched.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { descendants, exited, log, signal, track } from './processes.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const CLI = join(repoRoot, 'src/cli/main.ts');

export interface FixityServer {
  url: string;
  host: string;
  token: string;
  dataDir: string;
  pid: number;
  /** `fixity ARGS…` against this server; resolves with stdout, throws with stderr on a non-zero exit. */
  cli(args: string[]): Promise<string>;
  /** An authenticated API call (path below /api/v1); throws on a non-2xx answer. */
  api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** SIGTERM (the server stops its instances), waits; returns pids of its instances still alive after. */
  stop(): Promise<number[]>;
}

/** The command line of a live, non-zombie process; '' when it is gone. */
function cmdlineOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return '';
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function baseEnv(work: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_COMPILE_CACHE: join(work, 'node-cache'),
    XDG_CACHE_HOME: join(work, 'cache'),
    FIXITY_CONFIG_DIR: join(work, 'config'),
    NO_COLOR: '1',
  };
  for (const key of ['FIXITY_SERVER', 'FIXITY_TOKEN', 'FIXITY_DATA', 'FIXITY_DB', 'FIXITY_LISTEN']) delete env[key];
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((ok, fail) => {
    const child = track(spawn(process.execPath, [CLI, ...args], { cwd: repoRoot, env, stdio: 'pipe' }));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', fail);
    child.once('close', (code) => {
      if (code === 0) ok(Buffer.concat(out).toString());
      else fail(new Error(`fixity ${args.slice(0, 2).join(' ')} exited ${code}: ${Buffer.concat(err).toString()}`));
    });
  });
}

export async function startServer(work: string): Promise<FixityServer> {
  const dataDir = join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  const env = baseEnv(work);
  let logs = '';
  const child: ChildProcess = track(
    spawn(process.execPath, [CLI, 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const keep = (d: Buffer) => {
    logs = (logs + d.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let url = '';
  const deadline = Date.now() + 60_000;
  while (url === '') {
    if (child.exitCode !== null) throw new Error(`Cannot start fixity serve: it exited ${child.exitCode}:\n${logs}`);
    if (Date.now() > deadline) throw new Error(`Cannot start fixity serve: not healthy within 60 s:\n${logs}`);
    try {
      const info = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { url: string; pid: number };
      if (info.pid === child.pid && (await fetch(new URL('/healthz', info.url))).status === 200) url = info.url;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const cliEnv = { ...env, FIXITY_SERVER: url, FIXITY_TOKEN: token };
  const host = new URL(url).host;
  log(`fixity serve at ${url} (pid ${child.pid})`);
  return {
    url,
    host,
    token,
    dataDir,
    pid: child.pid ?? 0,
    cli: (args) => run(args, cliEnv),
    async api<T>(method: 'GET' | 'POST', path: string, body?: unknown) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`Cannot ${method} ${path}: ${res.status} ${text}`);
      return { status: res.status, body: JSON.parse(text) as T };
    },
    async stop() {
      const before = descendants(child.pid ?? 0).map((pid) => ({ pid, cmdline: cmdlineOf(pid) }));
      signal(child.pid ?? 0, 'SIGTERM');
      await exited(child, 30_000);
      await new Promise((r) => setTimeout(r, 200));
      const alive = before.filter((p) => p.cmdline !== '' && cmdlineOf(p.pid) === p.cmdline).map((p) => p.pid);
      for (const pid of alive) signal(pid, 'SIGKILL');
      return alive;
    },
  };
}
