// Runs the real `fixity serve` as a child process for end-to-end suites: a free port, a temp data dir,
// PostgreSQL or SQLite, SIGTERM/SIGKILL and restarts on the same data dir. Every child and temp dir is
// tracked, so `cleanup()` (and, as a last resort, process exit) leaves nothing behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from './databases.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The pinned Node 24 (the system node cannot strip types). */
export const NODE = existsSync(join(ROOT, 'node_modules/.bin/node'))
  ? join(ROOT, 'node_modules/.bin/node')
  : process.execPath;
export const CLI = join(ROOT, 'src/cli/main.ts');

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;
const LOG_LIMIT = 256 * 1024;

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let compileCache: string | undefined;

// A last resort for a test process that dies without running its `after` hooks.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// Node's compile cache cuts a child's start from ~2 s to ~0.5 s; it lives as long as this test process.
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  if (compileCache === undefined) {
    compileCache = mkdtempSync(join(tmpdir(), 'fixity-e2e-cache-'));
    tempDirs.add(compileCache);
  }
  // No file watcher outlives a test run (builds outside CI start one): a test that wants it says so.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_COMPILE_CACHE: compileCache,
    NO_COLOR: '1',
    FIXITY_BUILD_WATCH: '0',
    ...extra,
  };
  for (const key of ['FIXITY_SERVER', 'FIXITY_TOKEN', 'FIXITY_DATA', 'FIXITY_DB', 'FIXITY_LISTEN']) {
    if (!(key in extra)) delete env[key];
  }
  return env;
}

/** A temp dir removed by the owner's cleanup (or at process exit). */
export async function tempDir(prefix = 'fixity-e2e-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export interface ServerProcessOptions {
  /** The engine; SQLite in the data dir when absent or `sqlite`. */
  database?: TestDatabase;
  /** Extra `serve` flags, e.g. ['--immutable', 'prod/**']. */
  args?: string[];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  readonly dataDir: string;
  /** `http://127.0.0.1:PORT` of the current run. */
  readonly url: string;
  /** `127.0.0.1:PORT`, as registry clients name it. */
  readonly host: string;
  readonly port: number;
  /** The admin token from DIR/admin.token. */
  readonly token: string;
  readonly pid: number;
  /** True while the current child runs. */
  readonly running: boolean;
  /** stdout + stderr of every run so far (bounded), for failure messages. */
  logs(): string;
  /** `Authorization: Basic …` for a secret (the admin token by default). */
  auth(secret?: string): string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<ExitStatus>;
  /** SIGKILL (a crash), then waits for the exit. */
  kill(): Promise<ExitStatus>;
  /** Resolves when the current child exits (by any means). */
  exited(): Promise<ExitStatus>;
  /** Starts again on the same data dir (and the same port when it is free). */
  restart(): Promise<void>;
  /** Runs the CLI against this server; `--server/--token` are added unless `options.bare`. */
  cli(args: string[], options?: CLIOptions): Promise<CLIResult>;
  /** Runs the CLI against this server on a terminal of its own (see runCLIOnTerminal). */
  cliOnTerminal(
    args: string[],
    answer: string,
    env?: NodeJS.ProcessEnv,
  ): Promise<{ code: number | null; output: string }>;
  /** Kills the child if it still runs, removes the data dir and drops the database. */
  cleanup(): Promise<void>;
}

export interface CLIOptions {
  /** Do not add `--server URL --token ADMIN`. */
  bare?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Written to the CLI's stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
}

export interface CLIResult {
  code: number | null;
  stdout: string;
  /** stdout exactly as written. */
  stdoutBytes: Buffer;
  stderr: string;
}

/** Runs a command to completion and collects its output; never rejects on a non-zero exit. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<CLIResult> {
  return new Promise<CLIResult>((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: 'pipe' });
    live.add(child);
    if (options.input !== undefined) child.stdin.end(options.input);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    settle(child, options.timeoutMs ?? 60_000, reject, (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString(), stdoutBytes, stderr: Buffer.concat(err).toString() });
    });
  });
}

/** Kills `child` after `timeoutMs`; forgets it once it errs (`reject`) or closes (`done` with its exit code). */
function settle(
  child: ChildProcess,
  timeoutMs: number,
  reject: (error: Error) => void,
  done: (code: number | null) => void,
): void {
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.on('error', (error) => {
    clearTimeout(timer);
    live.delete(child);
    reject(error);
  });
  child.on('close', (code) => {
    clearTimeout(timer);
    live.delete(child);
    done(code);
  });
}

/** Runs `fixity ARGS` with the pinned Node. */
export function runCLI(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; cwd?: string } = {},
) {
  return run(NODE, [CLI, ...args], { timeoutMs: 30_000, ...options });
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Runs `fixity ARGS` on a terminal of its own (a pty from script(1)), answering the first question it asks
 * (a line ending in ": ") with `answer`; `output` is everything the terminal showed, stdout and stderr mixed.
 */
export function runCLIOnTerminal(
  args: string[],
  answer: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const line = [NODE, CLI, ...args].map(quote).join(' ');
    const child = spawn('script', ['-qec', line, '/dev/null'], {
      cwd: ROOT,
      env: childEnv({ CI: '', FIXITY_NO_PROMPT: '', TERM: 'dumb', ...env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(child);
    let output = '';
    let answered = false;
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (!answered && /: $/.test(output)) {
        answered = true;
        child.stdin.write(`${answer}\r`);
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    settle(child, 30_000, reject, (code) => {
      child.stdin.end();
      resolve({ code, output });
    });
  });
}

/** Starts `fixity serve` on a fresh data dir and a free port; resolves once /healthz answers 200. */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const { database, args = [] } = options;
  const dataDir = join(await tempDir('fixity-e2e-server-'), 'data');
  const dbArgs =
    database === undefined || database.name === 'sqlite'
      ? []
      : ['--db', database.url, ...(database.schema === undefined ? [] : ['--db-schema', database.schema])];
  let child: ChildProcess | undefined;
  let exit: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });
  let running = false;
  let port = 0;
  let url = '';
  let token = '';
  let logs = '';
  const append = (d: Buffer) => {
    logs += d.toString();
    if (logs.length > LOG_LIMIT) logs = logs.slice(-LOG_LIMIT);
  };

  const launch = async (listenPort: number): Promise<void> => {
    const c = spawn(
      NODE,
      [
        CLI,
        'serve',
        '--data',
        dataDir,
        '--listen',
        `127.0.0.1:${listenPort}`,
        '--log-level',
        'warn',
        ...dbArgs,
        ...args,
      ],
      { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    live.add(c);
    running = true;
    c.stdout?.on('data', append);
    c.stderr?.on('data', append);
    exit = new Promise<ExitStatus>((resolve) => {
      c.on('exit', (code, signal) => {
        running = false;
        live.delete(c);
        resolve({ code, signal });
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exited: ExitStatus | null = null;
    void exit.then((s) => {
      exited = s;
    });
    // server.json survives a SIGKILL; only trust the one this child wrote.
    for (;;) {
      if (exited !== null) {
        throw new Error(`fixity serve exited during start (${JSON.stringify(exited)}):\n${logs.slice(-4000)}`);
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`fixity serve did not become healthy within ${START_TIMEOUT_MS} ms:\n${logs.slice(-4000)}`);
      }
      const info = await readFile(join(dataDir, 'server.json'), 'utf8')
        .then((t) => JSON.parse(t) as { url: string; pid: number })
        .catch(() => null);
      if (info !== null && info.pid === c.pid) {
        const ok = await fetch(new URL('/healthz', info.url))
          .then(async (r) => {
            await r.arrayBuffer();
            return r.status === 200;
          })
          .catch(() => false);
        if (ok) {
          url = info.url;
          port = Number(new URL(info.url).port);
          break;
        }
      }
      await sleep(25);
    }
    token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  };

  const signal = async (sig: NodeJS.Signals): Promise<ExitStatus> => {
    if (!running || child === undefined) return exit;
    child.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
    });
    const result = await Promise.race([exit, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`fixity serve did not exit within ${STOP_TIMEOUT_MS} ms of ${sig}`);
    }
    return result;
  };

  const server: ServerProcess = {
    dataDir,
    get url() {
      return url;
    },
    get host() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get token() {
      return token;
    },
    get pid() {
      return child?.pid ?? 0;
    },
    get running() {
      return running;
    },
    logs: () => logs,
    auth: (secret = token) => `Basic ${Buffer.from(`e2e:${secret}`).toString('base64')}`,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    exited: () => exit,
    async restart() {
      if (running) throw new Error('Cannot restart: the server is still running; stop() or kill() it first');
      try {
        await launch(port);
      } catch (err) {
        // The old port was taken meanwhile: any free one will do.
        if (!/EADDRINUSE/.test(String(err))) throw err;
        await launch(0);
      }
    },
    cli: (cliArgs, cliOptions = {}) =>
      runCLI(cliOptions.bare ? cliArgs : [...cliArgs, '--server', url, '--token', token], {
        ...(cliOptions.env === undefined ? {} : { env: cliOptions.env }),
        ...(cliOptions.timeoutMs === undefined ? {} : { timeoutMs: cliOptions.timeoutMs }),
        ...(cliOptions.input === undefined ? {} : { input: cliOptions.input }),
      }),
    cliOnTerminal: (cliArgs, answer, env) =>
      runCLIOnTerminal([...cliArgs, '--server', url, '--token', token], answer, env),
    async cleanup() {
      if (running && child !== undefined) {
        child.kill('SIGKILL');
        await exit;
      }
      await removeTempDir(join(dataDir, '..'));
      await database?.cleanup();
    },
  };
  try {
    await launch(0);
  } catch (err) {
    await server.cleanup();
    throw err;
  }
  return server;
}
