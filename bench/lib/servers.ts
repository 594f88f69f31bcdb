/**
 * Starting and stopping the servers under test as child processes: Fixity, the reference
 * docker-registry (distribution 2.8) and a bare node:http server used as the loopback limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface ServerHandle {
  name: string;
  baseUrl: string;
  pid: number;
  /** Authorization header value for every request, if the server needs one. */
  authorization?: string;
  logPath: string;
  stop(): Promise<void>;
}

/** Raised when the reference registry binary is absent; the message says how to install it. */
export class MissingPeer extends Error {}

const children = new Set<ChildProcess>();

/** Kills every child still running (used on errors and SIGINT). */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function probe(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { headers, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function tail(path: string): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.split('\n').slice(-25).join('\n');
  } catch {
    return '';
  }
}

/** Polls `url` until it answers 200, failing early if the child exits. */
async function waitReady(child: ChildProcess, name: string, url: string, logPath: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited (${child.exitCode ?? child.signalCode}) before ${url} was ready; log tail:\n${await tail(logPath)}`,
      );
    }
    last = await probe(url, {});
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${name}: ${url} not 200 after ${timeoutMs} ms (last status ${last}); log tail:\n${await tail(logPath)}`,
  );
}

function spawnLogged(command: string, args: string[], cwd: string, logPath: string): ChildProcess {
  const log = openSync(logPath, 'a');
  const child = spawn(command, args, { cwd, stdio: ['ignore', log, log], env: process.env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

export async function startPeer(dir: string, bin: string): Promise<ServerHandle> {
  if (!existsSync(bin)) {
    throw new MissingPeer(
      `reference registry not found at ${bin}; install it with \`apt-get install docker-registry\` (or set PEER_REGISTRY_BIN)`,
    );
  }
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, config);
  const logPath = join(dir, 'registry.log');
  const child = spawnLogged(bin, ['serve', configPath], dir, logPath);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(child, 'docker-registry', `${baseUrl}/v2/`, logPath, 30_000);
  return { name: 'peer', baseUrl, pid: child.pid ?? 0, logPath, stop: stopper(child) };
}

export async function startFixity(repoRoot: string, dir: string, nodeBin: string): Promise<ServerHandle> {
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const logPath = join(dir, 'fixity.log');
  const args = [
    join(repoRoot, 'src/cli/main.ts'),
    'serve',
    '--data',
    dataDir,
    '--listen',
    `127.0.0.1:${port}`,
    '--log-level',
    'error',
  ];
  const child = spawnLogged(nodeBin, args, repoRoot, logPath);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(child, 'fixity', `${baseUrl}/healthz`, logPath, 60_000);
  const tokenPath = join(dataDir, 'admin.token');
  let token: string;
  try {
    token = (await readFile(tokenPath, 'utf8')).trim();
  } catch (error) {
    throw new Error(`fixity is healthy but ${tokenPath} is unreadable: ${String(error)}`);
  }
  if (!token) throw new Error(`fixity wrote an empty ${tokenPath}`);
  const authorization = `Basic ${Buffer.from(`bench:${token}`).toString('base64')}`;
  return { name: 'fixity', baseUrl, pid: child.pid ?? 0, authorization, logPath, stop: stopper(child) };
}

/**
 * The loopback limit for small GETs: a bare node:http server in its own process that answers
 * every request with the same bytes. No routing, auth, storage or validation — an upper bound.
 */
export async function startLoopback(dir: string, nodeBin: string, body: Buffer, contentType: string) {
  const port = await freePort();
  const code = `
    const body = Buffer.from(process.env.BENCH_BODY, 'base64');
    require('node:http').createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': process.env.BENCH_TYPE, 'content-length': body.length });
      res.end(body);
    }).listen(Number(process.env.BENCH_PORT), '127.0.0.1');`;
  const logPath = join(dir, 'loopback.log');
  const log = openSync(logPath, 'a');
  const child = spawn(nodeBin, ['-e', code], {
    stdio: ['ignore', log, log],
    env: { ...process.env, BENCH_BODY: body.toString('base64'), BENCH_TYPE: contentType, BENCH_PORT: String(port) },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(child, 'loopback', `${baseUrl}/`, logPath, 10_000);
  const handle: ServerHandle = { name: 'loopback', baseUrl, pid: child.pid ?? 0, logPath, stop: stopper(child) };
  return handle;
}
