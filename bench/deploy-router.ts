/**
 * The traffic router side by side with nginx (Debian) doing the same 80/20 weighted split over the same two
 * backends, and with a direct connection to one backend, in one run: requests/s at full load (closed loop,
 * keep-alive connections) and latency at a fixed moderate rate, whose p99 minus the direct p99 is the
 * router's added latency.
 *
 *   npm run bench:deploy-router -- [--connections 32] [--duration 10] [--rate 2000] [--rate-connections 8]
 *                                   [--rounds 3] [--json]
 *
 * Each round measures every target in turn, the order rotated from round to round, and each figure is the median
 * round's: this VM's speed swings by up to 2× from one minute to the next, and a target measured once would carry
 * whatever swing fell on its turn into the ratio.
 *
 * Backends, router and nginx each run in their own processes; the load generator (raw keep-alive sockets,
 * minimal HTTP/1.1 parsing) runs in this one. Progress goes to stderr; the table (or JSON) goes to stdout.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describeRounds, routerTable } from './deploy-lib/router-peer.ts';
import { percentile, renderTable } from './lib/stats.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const workDir = join(import.meta.dirname, '.work', 'deploy-router');
const TARGET_RATIO = 0.6;
const TARGET_ADDED_P99_MS = 1;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '32' },
      duration: { type: 'string', default: '10' },
      rate: { type: 'string', default: '2000' },
      'rate-connections': { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  return {
    connections: positive('connections', values.connections),
    durationMs: positive('duration', values.duration) * 1000,
    rate: positive('rate', values.rate),
    rateConnections: positive('rate-connections', values['rate-connections']),
    rounds: positive('rounds', values.rounds),
    json: values.json,
  };
}

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

const children = new Set<ChildProcess>();
/** SIGTERM, not SIGKILL: nginx's master stops its workers on SIGTERM but would orphan them on SIGKILL. */
function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  children.clear();
}
process.on('SIGINT', () => {
  killChildren();
  process.exit(130);
});

/** Spawns a process and resolves with its first stdout line (the script prints its address there). */
function spawnWithLine(command: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const nl = buffered.indexOf('\n');
      if (nl !== -1) resolvePromise({ child, line: buffered.slice(0, nl) });
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code} before it was ready`)));
  });
}

// Two trivial backends in one process: 'a' (80%) and 'b' (20%), each a one-byte body with a length.
const BACKENDS = `
import { createServer } from 'node:http';
const ports = [];
for (const body of ['a', 'b']) {
  const server = createServer({ keepAliveTimeout: 65000 }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1' });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  ports.push(server.address().port);
}
console.log(JSON.stringify(ports));
`;

// The floor for any proxy written in Node: bytes relayed between two sockets, no HTTP read or written, every
// client connection pinned to backend 'a'. What the router adds over this is its own work.
const relayScript = (ports: number[]) => `
import { connect, createServer } from 'node:net';
const server = createServer({ noDelay: true }, (client) => {
  const up = connect({ host: '127.0.0.1', port: ${ports[0]}, noDelay: true });
  client.pipe(up);
  up.pipe(client);
  for (const s of [client, up]) s.on('error', () => { client.destroy(); up.destroy(); });
});
server.listen(0, '127.0.0.1', () => console.log('http://127.0.0.1:' + server.address().port));
`;

const routerScript = (ports: number[]) => `
import { createRouter } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/runtime/router.ts')).href)};
const [a, b] = ${JSON.stringify(ports)};
const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);
const router = createRouter({ environment: 'bench', service: 'web' });
await router.listen();
await router.update({
  backends: [
    { instance: 'a', release: A, host: '127.0.0.1', port: a },
    { instance: 'b', release: B, host: '127.0.0.1', port: b },
  ],
  weights: { [A]: 80, [B]: 20 },
});
console.log(router.url);
`;

function nginxConfig(dir: string, port: number, ports: number[], workers: string): string {
  return `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx closes a client connection after 1,000 requests by default; the router and backends never do.
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream web {
    server 127.0.0.1:${ports[0]} weight=4;
    server 127.0.0.1:${ports[1]} weight=1;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function startNginx(
  ports: number[],
  workers: string,
): Promise<{ port: number; pids: () => number[]; version: string }> {
  let binary: string;
  try {
    binary = execFileSync('sh', ['-c', 'command -v nginx || command -v /usr/sbin/nginx'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('Cannot run the nginx peer: nginx is not installed (apt-get install -y nginx)');
  }
  const version = execFileSync('sh', ['-c', `${binary} -v 2>&1`], { encoding: 'utf8' }).trim();
  const dir = join(workDir, `nginx-${workers}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, ports, workers));
  const child = spawn(binary, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], {
    stdio: 'inherit',
  });
  children.add(child);
  await waitForPort(port);
  const pids = (): number[] => {
    const master = child.pid ?? 0;
    try {
      const kids = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).map(Number);
      return [master, ...kids.filter((n) => n > 0)];
    } catch {
      return [master];
    }
  };
  return { port, pids, version };
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((done) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        done(true);
      });
      s.on('error', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Cannot reach 127.0.0.1:${port}: nothing listens after 5 s`);
}

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');

/** One keep-alive connection sending one request at a time; resolves with the first body byte. */
function openConnection(port: number): Promise<{ send(): Promise<number>; close(): void }> {
  return new Promise((ready, fail) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let pending: ((first: number) => void) | undefined;
    let failPending: ((e: Error) => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.toString('latin1', 0, end);
      const match = /content-length:\s*(\d+)/i.exec(head);
      if (!match) throw new Error(`Cannot read the response: no content-length in ${head}`);
      const total = end + 4 + Number(match[1]);
      if (buffer.length < total) return;
      const first = buffer[end + 4] ?? 0;
      buffer = buffer.subarray(total);
      if (!head.startsWith('HTTP/1.1 200')) failPending?.(new Error(`Cannot benchmark: got ${head.split('\r\n')[0]}`));
      else pending?.(first);
      pending = undefined;
      failPending = undefined;
    });
    socket.on('error', (e) => {
      failPending?.(e);
      fail(e);
    });
    socket.on('close', () => failPending?.(new Error(`Cannot benchmark: port ${port} closed the connection`)));
    socket.once('connect', () =>
      ready({
        send: () =>
          new Promise<number>((ok, ko) => {
            pending = ok;
            failPending = ko;
            socket.write(REQUEST);
          }),
        close: () => socket.destroy(),
      }),
    );
  });
}

interface LoadResult {
  perSecond: number;
  p50: number;
  p99: number;
  /** Share of responses from backend 'a' (80% expected through the proxies). */
  shareA: number;
  cpu: Record<string, number>;
}

/** Closed loop (ratePerConnection undefined) or a fixed rate per connection, for `durationMs` after warm-up. */
async function load(
  port: number,
  connections: number,
  durationMs: number,
  watch: Record<string, () => number[]>,
  rate?: number,
): Promise<LoadResult> {
  const conns = await Promise.all(Array.from({ length: connections }, () => openConnection(port)));
  const interval = rate === undefined ? 0 : (connections * 1000) / rate;
  const run = async (ms: number, record: boolean) => {
    const latencies: number[] = [];
    let fromA = 0;
    const start = performance.now();
    const deadline = start + ms;
    await Promise.all(
      conns.map(async (c, i) => {
        let due = start + (interval * i) / connections;
        while (performance.now() < deadline) {
          if (interval > 0) {
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            due += interval;
          }
          const t0 = performance.now();
          const first = await c.send();
          if (record) {
            latencies.push(performance.now() - t0);
            if (first === 0x61) fromA++;
          }
        }
      }),
    );
    return { latencies, fromA, elapsed: performance.now() - start };
  };
  await run(Math.min(1000, durationMs), false);
  const before = Object.fromEntries(Object.entries(watch).map(([k, pids]) => [k, cpuMs(pids())]));
  const client0 = process.cpuUsage();
  const res = await run(durationMs, true);
  const cpu: Record<string, number> = {};
  for (const [k, pids] of Object.entries(watch)) cpu[k] = ((cpuMs(pids()) - (before[k] ?? 0)) / res.elapsed) * 100;
  const client = process.cpuUsage(client0);
  cpu.client = ((client.user + client.system) / 1000 / res.elapsed) * 100;
  for (const c of conns) c.close();
  return {
    perSecond: (res.latencies.length / res.elapsed) * 1000,
    p50: percentile(res.latencies, 50),
    p99: percentile(res.latencies, 99),
    shareA: res.fromA / res.latencies.length,
    cpu,
  };
}

/** utime + stime of the processes in ms (clock ticks of 10 ms). */
function cpuMs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // the process is gone; its time no longer counts
    }
  }
  return total;
}

async function main(): Promise<void> {
  const o = parseOptions();
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const node = process.execPath;
  log('starting two backends (one node:http process)');
  const backends = await spawnWithLine(node, ['--input-type=module', '-e', BACKENDS]);
  const ports = JSON.parse(backends.line) as number[];
  log('starting the Fixity router (own node process, 80/20)');
  const router = await spawnWithLine(node, ['--input-type=module', '-e', routerScript(ports)]);
  const routerPort = Number(new URL(router.line).port);
  log('starting nginx twice (worker_processes auto, and 1 like the single-threaded router), same 80/20 split');
  const nginx = await startNginx(ports, 'auto');
  const nginx1 = await startNginx(ports, '1');
  log('starting a bare TCP relay in node (the floor for a proxy in Node)');
  const relay = await spawnWithLine(node, ['--input-type=module', '-e', relayScript(ports)]);
  const relayPort = Number(new URL(relay.line).port);
  const backendPids = () => [backends.child.pid ?? 0];
  const targets = [
    { name: 'direct', port: ports[0] ?? 0, watch: { backends: backendPids } },
    { name: 'fixity', port: routerPort, watch: { backends: backendPids, proxy: () => [router.child.pid ?? 0] } },
    { name: 'nginx', port: nginx.port, watch: { backends: backendPids, proxy: nginx.pids } },
    { name: 'nginx (1 worker)', port: nginx1.port, watch: { backends: backendPids, proxy: nginx1.pids } },
    { name: 'node TCP relay', port: relayPort, watch: { backends: backendPids, proxy: () => [relay.child.pid ?? 0] } },
  ];
  const maxRuns: Record<string, LoadResult[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  const fixedRuns: Record<string, LoadResult[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  try {
    for (let round = 0; round < o.rounds; round++) {
      const order = [...targets.slice(round % targets.length), ...targets.slice(0, round % targets.length)];
      const of = `round ${round + 1}/${o.rounds}`;
      for (const t of order) {
        log(`${of} ${t.name}: ${o.connections} connections, closed loop, ${o.durationMs / 1000} s`);
        maxRuns[t.name]?.push(await load(t.port, o.connections, o.durationMs, t.watch));
      }
      for (const t of order) {
        log(`${of} ${t.name}: fixed ${o.rate} req/s over ${o.rateConnections} connections, ${o.durationMs / 1000} s`);
        fixedRuns[t.name]?.push(await load(t.port, o.rateConnections, o.durationMs, t.watch, o.rate));
      }
    }
  } finally {
    killChildren();
  }
  const max = medians(maxRuns, (r) => r.perSecond);
  const fixed = medians(fixedRuns, (r) => r.p99);
  const ratio = (max.fixity?.perSecond ?? Number.NaN) / (max.nginx?.perSecond ?? Number.NaN);
  const added = (fixed.fixity?.p99 ?? Number.NaN) - (fixed.direct?.p99 ?? Number.NaN);
  const addedNginx = (fixed.nginx?.p99 ?? Number.NaN) - (fixed.direct?.p99 ?? Number.NaN);
  const addedRelay = (fixed['node TCP relay']?.p99 ?? Number.NaN) - (fixed.direct?.p99 ?? Number.NaN);
  const ratio1 = (max.fixity?.perSecond ?? Number.NaN) / (max['nginx (1 worker)']?.perSecond ?? Number.NaN);
  // The same figures round by round, each within one round (so within one minute of the VM's swings).
  const perRound = {
    ratio: (maxRuns.fixity ?? []).map((f, i) => f.perSecond / (maxRuns.nginx?.[i]?.perSecond ?? Number.NaN)),
    addedP99Ms: (fixedRuns.fixity ?? []).map((f, i) => f.p99 - (fixedRuns.direct?.[i]?.p99 ?? Number.NaN)),
    addedNginxP99Ms: (fixedRuns.nginx ?? []).map((f, i) => f.p99 - (fixedRuns.direct?.[i]?.p99 ?? Number.NaN)),
    addedRelayP99Ms: (fixedRuns['node TCP relay'] ?? []).map(
      (f, i) => f.p99 - (fixedRuns.direct?.[i]?.p99 ?? Number.NaN),
    ),
  };
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg()[0]?.toFixed(2)}, node ${process.version}, ${nginx.version}`;
  if (o.json) {
    console.log(
      JSON.stringify(
        { options: o, machine, max, fixed, ratio, ratio1, addedP99Ms: added, addedNginx, addedRelay, perRound },
        null,
        2,
      ),
    );
    return;
  }
  console.log(`machine: ${machine}`);
  console.log(
    `closed loop: ${o.connections} keep-alive connections × ${o.durationMs / 1000} s; fixed rate: ${o.rate} req/s over ${o.rateConnections} connections × ${o.durationMs / 1000} s; 1 s warm-up each; median of ${o.rounds} rounds\n`,
  );
  console.log(routerTable(max, fixed));
  console.log('');
  console.log(
    renderTable(
      ['target', 'figure', 'goal', 'met'],
      [
        ['fixity / nginx req/s', `${ratio.toFixed(2)}×`, `≥ ${TARGET_RATIO}×`, ratio >= TARGET_RATIO ? 'yes' : 'NO'],
        [
          `added p99 at ${o.rate} req/s (fixity − direct)`,
          `${added.toFixed(2)} ms`,
          `≤ ${TARGET_ADDED_P99_MS} ms`,
          added <= TARGET_ADDED_P99_MS ? 'yes' : 'NO',
        ],
        [`added p99 at ${o.rate} req/s (nginx − direct)`, `${addedNginx.toFixed(2)} ms`, '', ''],
        [`added p99 at ${o.rate} req/s (node TCP relay − direct)`, `${addedRelay.toFixed(2)} ms`, '', ''],
        ['fixity / nginx (1 worker) req/s', `${ratio1.toFixed(2)}×`, '', ''],
      ],
    ),
  );
  console.log(`\n${describeRounds(perRound)}`);
  console.log(
    '\nNote: the load generator, backends, router and nginx share this machine; on 2 cores they compete for CPU.\n' +
      'The router is one node process (one core at most); nginx with worker_processes auto runs one worker per core.\n' +
      'The node TCP relay parses no HTTP and pins each connection to one backend: the floor for a proxy in Node.',
  );
}

/** Per target, the run with the median `key` (a whole run, so its other figures stay consistent with it). */
function medians(runs: Record<string, LoadResult[]>, key: (r: LoadResult) => number): Record<string, LoadResult> {
  const out: Record<string, LoadResult> = {};
  for (const [name, list] of Object.entries(runs)) {
    const sorted = [...list].sort((a, b) => key(a) - key(b));
    const mid = sorted[Math.floor((sorted.length - 1) / 2)];
    if (mid !== undefined) out[name] = mid;
  }
  return out;
}

main().catch((error: unknown) => {
  killChildren();
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
