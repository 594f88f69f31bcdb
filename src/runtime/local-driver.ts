import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type Clock, type Digest, parseDigest, systemClock } from '../core/index.ts';
import { type HealthWatch, watchHealth } from './health.ts';
import { readLastLines } from './log-files.ts';
import { type LogRotation, type LogTail, resolveLogRotation, startLogTail } from './log-tail.ts';
import { descendantsOf, parentTable, readCmdline, signal } from './process-table.ts';
import { openProvisioningBook } from './provisioning-book.ts';
import { diffManifest, scanRoot } from './root-manifest.ts';
import { RuntimeError } from './runtime-error.ts';
import { detectSandbox, planLaunch, type SandboxSupport } from './sandbox.ts';
import type { DriftFinding, DriftReport, ImageSource, InstanceSpec, InstanceStatus, RuntimeDriver } from './types.ts';
import { createUnpacker, removeTree } from './unpack.ts';

export interface RuntimeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type KeyVerifier = (
  token: string,
  expect: { release: Digest; environment: string; instance: string },
) => { nonce: string; quota: number };

export interface LocalDriverOptions {
  readonly stateDir: string;
  readonly images: ImageSource;
  /** Checks a provisioning key's signature, expiry and binding; throws when it does not hold. */
  readonly verifyKey: KeyVerifier;
  readonly logger?: RuntimeLogger;
  readonly clock?: Clock;
  readonly quarantineRetentionMs?: number;
  readonly sandbox?: 'auto' | 'bwrap' | 'none';
  readonly host?: string;
  /** Interpreters an image may name without containing them, e.g. `{ node: process.execPath }`. */
  readonly hostBinaries?: Readonly<Record<string, string>>;
  /** When an instance's log rotates and how many rotated files it keeps: 16 MiB and 3 unless given. */
  readonly logRotation?: LogRotation;
  /** Called when an instance changes state (ready, unhealthy, exited, stopped…): the reconciler wakes. */
  readonly onStateChange?: (status: InstanceStatus) => void;
  /** Called for every refused start (the spec without its key), so the caller can record it. */
  readonly onRefused?: (spec: Omit<InstanceSpec, 'provisioningKey'>, error: unknown) => void;
}

export interface LocalDriver extends RuntimeDriver {
  /** Stops watching without stopping any process; a new driver on the same state dir adopts them. */
  detach(): Promise<void>;
}

type Spec = Omit<InstanceSpec, 'provisioningKey'>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What `instance.json` holds. */
interface InstanceRecord extends Spec {
  status: Mutable<InstanceStatus>;
  argv: string[];
  /** bubblewrap's pid-1 inside the sandbox (a host pid), when sandboxed. */
  sandboxInit: number | null;
  /** The root it runs on and the manifest made at unpack (a tampered root is moved aside, see verify). */
  rootDir?: string;
  rootMeta?: string;
}

interface Live {
  record: InstanceRecord;
  child: ChildProcess | null;
  poll: NodeJS.Timeout | null;
  health: HealthWatch | null;
  tail: LogTail | null;
  /** Set while stop/quarantine is in progress: the next exit is expected. */
  ending: 'stopped' | 'quarantined' | null;
  /** After `detach`, exits are no longer this driver's business. */
  detached: boolean;
  exited: Promise<void>;
  markExited: () => void;
  waiters: Array<{ resolve: (s: InstanceStatus) => void; reject: (e: unknown) => void }>;
}

const LIVE_STATES = new Set(['starting', 'ready', 'unhealthy']);
const noopLogger: RuntimeLogger = { info() {}, warn() {}, error() {} };

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function envMap(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** The first child `pid` forks (bubblewrap's namespace init), waiting up to a second for it. */
async function firstChild(pid: number): Promise<number | null> {
  for (let i = 0; i < 50; i++) {
    const child = descendantsOf(pid, await parentTable())[0];
    if (child !== undefined) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

const sameArgv = (a: readonly string[] | null, b: readonly string[]) =>
  a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
const short = (d: Digest) => parseDigest(d).hex.slice(0, 12);

/** The embedded driver: unpacks images into read-only roots and runs instances under bubblewrap when it can. */
export async function createLocalDriver(options: LocalDriverOptions): Promise<LocalDriver> {
  const logger = options.logger ?? noopLogger;
  const clock = options.clock ?? systemClock;
  const host = options.host ?? '127.0.0.1';
  const hostBinaries = options.hostBinaries ?? { node: process.execPath };
  const retention = options.quarantineRetentionMs ?? 60 * 60 * 1000;
  const logRotation = resolveLogRotation(options.logRotation);
  const instancesDir = join(options.stateDir, 'instances');
  const rootsDir = join(options.stateDir, 'roots');
  await mkdir(instancesDir, { recursive: true });
  await mkdir(rootsDir, { recursive: true });
  const unpacker = createUnpacker(rootsDir, options.images);
  const book = openProvisioningBook(join(options.stateDir, 'provisioning.json'));
  const instances = new Map<string, Live>();
  /** Pids spawned by a start() that has not registered its instance yet. */
  const launching = new Set<number>();
  /** Images a start is using before its instance is registered; gc keeps their roots. */
  const starting = new Map<string, number>();
  let support: Promise<SandboxSupport> | null = null;
  let detached = false;

  const dirOf = (id: string) => join(instancesDir, id);
  const save = async (live: Live) => {
    const file = join(dirOf(live.record.id), 'instance.json');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(live.record, null, 1)}\n`);
    await rename(tmp, file);
  };
  const persist = (live: Live) => {
    save(live).catch((err) => logger.error({ err, instance: live.record.id }, 'cannot save instance state'));
  };
  const snapshot = (live: Live): InstanceStatus => ({
    ...live.record.status,
    address: { ...live.record.status.address },
  });
  const settleWaiters = (live: Live) => {
    const s = live.record.status;
    if (s.state === 'starting') return;
    for (const w of live.waiters.splice(0)) {
      if (s.state === 'ready') w.resolve(snapshot(live));
      else w.reject(new RuntimeError('NOT_READY', `Cannot wait for ${s.id}: it is ${s.state} (${s.reason})`));
    }
  };
  const setState = (live: Live, patch: Partial<InstanceStatus>) => {
    const before = live.record.status.state;
    Object.assign(live.record.status, patch);
    persist(live);
    settleWaiters(live);
    if (live.record.status.state !== before) options.onStateChange?.(snapshot(live));
  };

  const onExit = (live: Live, exitCode: number | null, reason: string) => {
    live.health?.stop();
    live.health = null;
    if (live.poll !== null) clearInterval(live.poll);
    live.poll = null;
    live.child = null;
    const ending = live.ending;
    // The watched pid is bubblewrap's outer process; if it died alone, the namespace's init lives on in its
    // own session: killing that init ends the whole sandbox instead of leaving it running unwatched.
    const init = live.record.sandboxInit;
    if (typeof init === 'number' && ending === null) {
      void readCmdline(init).then((argv) => {
        if (sameArgv(argv, live.record.argv)) signal(init, 'SIGKILL');
      });
    }
    void live.tail?.flush(true);
    live.tail?.stop();
    const state = ending ?? 'exited';
    if (state === 'exited') logger.warn({ instance: live.record.id, exitCode, reason }, 'instance exited');
    const keepReason = ending === 'quarantined' ? live.record.status.reason : reason;
    setState(live, { state, exitCode, stoppedAt: clock.now().toISOString(), pid: null, reason: keepReason });
    live.markExited();
  };

  type ExitInfo = [code: number | null, sig: NodeJS.Signals | null];
  const watch = async (live: Live, childExit: Promise<ExitInfo> | null, alreadyReady: boolean) => {
    const r = live.record;
    const labels = `env=${r.environment} release=${short(r.release)} image=${short(r.image)} instance=${r.id} `;
    const dir = dirOf(r.id);
    live.tail = await startLogTail(
      { output: join(dir, 'output'), log: join(dir, 'log'), offset: join(dir, 'log.offset') },
      { ...logRotation, prefix: () => `${clock.now().toISOString()} ${labels}` },
    );
    if (childExit !== null) {
      void childExit.then(([code, sig]) => {
        if (!live.detached) onExit(live, code ?? 128, sig === null ? `exited with code ${code}` : `killed by ${sig}`);
      });
    } else {
      const pid = r.status.pid!;
      // Not our child any more: its exit can only be seen by looking.
      live.poll = setInterval(() => {
        void readCmdline(pid).then((argv) => {
          if (argv === null && live.poll !== null) onExit(live, null, 'exited while adopted');
        });
      }, 1000);
    }
    live.health = watchHealth({
      host,
      port: r.status.address.port,
      spec: r.health,
      clock,
      startedAt: new Date(r.status.startedAt),
      alreadyReady,
      onReady: () => setState(live, { state: 'ready', reason: null }),
      onUnhealthy: (reason) => {
        logger.warn({ instance: r.id, reason }, 'instance unhealthy');
        setState(live, { state: 'unhealthy', reason });
      },
    });
  };

  const newLive = (record: InstanceRecord): Live => {
    let markExited = () => {};
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    return {
      record,
      child: null,
      poll: null,
      health: null,
      tail: null,
      ending: null,
      detached: false,
      exited,
      markExited,
      waiters: [],
    };
  };

  // Re-adopt what a previous driver (or a crashed server) left running.
  for (const id of await readdir(instancesDir)) {
    let record: InstanceRecord;
    try {
      record = JSON.parse(await readFile(join(dirOf(id), 'instance.json'), 'utf8'));
    } catch {
      continue;
    }
    const live = newLive(record);
    instances.set(id, live);
    const pid = record.status.pid;
    if (!LIVE_STATES.has(record.status.state) || pid === null) {
      live.markExited();
      continue;
    }
    if (sameArgv(await readCmdline(pid), record.argv)) {
      logger.info({ instance: id, pid }, 'adopted running instance');
      await watch(live, null, record.status.state === 'ready');
    } else {
      live.markExited();
      Object.assign(record.status, { state: 'exited', pid: null, reason: 'gone while the driver was down' });
      Object.assign(record.status, { stoppedAt: clock.now().toISOString() });
      await save(live);
    }
  }

  const refuse = (spec: Spec, err: unknown): never => {
    logger.warn({ instance: spec.id, release: spec.release, environment: spec.environment, err }, 'start refused');
    options.onRefused?.(spec, err);
    throw err;
  };

  const launch = async (spec: Spec): Promise<InstanceStatus> => {
    const root = await unpacker.unpack(spec.image);
    support ??= detectSandbox(options.sandbox ?? 'auto');
    const port = await freePort(host);
    const env: Record<string, string> = {
      ...envMap(root.config.env),
      ...spec.env,
      PORT: String(port),
      FIXITY_RELEASE: spec.release,
      FIXITY_INSTANCE: spec.id,
      FIXITY_ENVIRONMENT: spec.environment,
    };
    const argv = [...root.config.entrypoint, ...root.config.cmd];
    if (argv.length === 0) throw new RuntimeError('START_FAILED', 'Cannot start: the image has no entrypoint or cmd');
    const plan = await planLaunch({
      root: root.dir,
      argv,
      env,
      workingDir: root.config.workingDir,
      user: root.config.user,
      hostBinaries,
      support: await support,
    });
    for (const note of plan.notes) logger.warn({ instance: spec.id }, note);
    const dir = dirOf(spec.id);
    await mkdir(dir, { recursive: true });
    const fd = openSync(join(dir, 'output'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(plan.argv[0]!, plan.argv.slice(1), {
        cwd: plan.cwd,
        env: plan.env,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      throw new RuntimeError('START_FAILED', `Cannot start ${spec.id}: ${(err as Error).message}`, { cause: err });
    } finally {
      closeSync(fd);
    }
    // Until the instance is registered, strays() must not take its process for an unknown one.
    if (child.pid !== undefined) launching.add(child.pid);
    // Listen at once: the process may exit before the instance is registered.
    const childExit = new Promise<ExitInfo>((resolve) => child.once('exit', (code, sig) => resolve([code, sig])));
    const now = clock.now().toISOString();
    const record: InstanceRecord = {
      ...spec,
      rootDir: root.dir,
      rootMeta: unpacker.paths(spec.image).meta,
      argv: [...plan.argv],
      sandboxInit: plan.sandboxed && child.pid !== undefined ? await firstChild(child.pid).catch(() => null) : null,
      status: {
        id: spec.id,
        environment: spec.environment,
        service: spec.service,
        release: spec.release,
        image: spec.image,
        configDigest: spec.configDigest,
        state: 'starting',
        address: { host, port },
        pid: child.pid ?? null,
        sandboxed: plan.sandboxed,
        startedAt: now,
        stoppedAt: null,
        exitCode: null,
        reason: null,
      },
    };
    const live = newLive(record);
    instances.set(spec.id, live);
    if (child.pid !== undefined) launching.delete(child.pid);
    await save(live);
    live.child = child;
    await watch(live, childExit, false);
    logger.info({ instance: spec.id, pid: child.pid, port, sandboxed: plan.sandboxed }, 'instance started');
    return snapshot(live);
  };

  const get = (id: string): Live => {
    const live = instances.get(id);
    if (live === undefined) throw new RuntimeError('INSTANCE_UNKNOWN', `Cannot find instance ${id}: it is unknown`);
    return live;
  };

  const end = async (id: string, as: 'stopped' | 'quarantined', graceMs: number) => {
    const live = get(id);
    const pid = live.record.status.pid;
    if (!LIVE_STATES.has(live.record.status.state) || pid === null) {
      if (as === 'quarantined') setState(live, { state: 'quarantined' });
      return;
    }
    live.ending = as;
    live.health?.stop();
    // bubblewrap does not forward signals, so the sandboxed processes get them directly (its pid-1 ignores
    // them); the tree is rescanned during the grace period because bubblewrap may not have forked the app yet.
    const signalled = new Set<number>();
    const term = async () => {
      if (!live.record.status.sandboxed) {
        if (signalled.size === 0) signal(-pid, 'SIGTERM');
        signalled.add(pid);
        return;
      }
      for (const p of descendantsOf(pid, await parentTable())) {
        if (!signalled.has(p)) signal(p, 'SIGTERM');
        signalled.add(p);
      }
    };
    await term();
    const rescan = setInterval(() => void term(), 100);
    let timer: NodeJS.Timeout | undefined;
    const graceful = await Promise.race([
      live.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(rescan);
    if (!graceful) {
      logger.warn({ instance: id, graceMs }, 'instance ignored SIGTERM: killing it');
      const now = descendantsOf(pid, await parentTable());
      signal(-pid, 'SIGKILL');
      for (const p of [pid, ...signalled, ...now]) signal(p, 'SIGKILL');
      await live.exited;
    }
  };

  const driver: LocalDriver = {
    name: 'local',
    async start(instanceSpec) {
      const { provisioningKey, ...spec } = instanceSpec;
      if (detached) throw new RuntimeError('START_FAILED', `Cannot start ${spec.id}: the driver is detached`);
      try {
        const { nonce, quota } = options.verifyKey(provisioningKey, {
          release: spec.release,
          environment: spec.environment,
          instance: spec.id,
        });
        await book.record(nonce, spec.id, quota);
        if (instances.has(spec.id)) {
          throw new RuntimeError('INSTANCE_EXISTS', `Cannot start ${spec.id}: an instance with this id exists`);
        }
      } catch (err) {
        return refuse(spec, err);
      }
      const hex = parseDigest(spec.image).hex;
      starting.set(hex, (starting.get(hex) ?? 0) + 1);
      try {
        return await launch(spec);
      } catch (err) {
        return refuse(spec, err);
      } finally {
        starting.set(hex, starting.get(hex)! - 1);
        if (starting.get(hex) === 0) starting.delete(hex);
      }
    },
    waitReady(id) {
      const live = get(id);
      return new Promise((resolve, reject) => {
        live.waiters.push({ resolve, reject });
        settleWaiters(live);
      });
    },
    stop: (id, opts) => end(id, 'stopped', opts?.graceMs ?? 10_000),
    async quarantine(id, reason) {
      const live = get(id);
      live.record.status.reason = reason;
      await end(id, 'quarantined', 10_000);
      setState(live, { state: 'quarantined', reason });
      logger.warn({ instance: id, reason }, 'instance quarantined');
    },
    status: (id) => {
      const live = instances.get(id);
      return live === undefined ? undefined : snapshot(live);
    },
    list: () => [...instances.values()].map(snapshot),
    async verify(id) {
      const live = get(id);
      const r = live.record;
      const findings: DriftFinding[] = [];
      const current = unpacker.paths(r.image);
      const dir = r.rootDir ?? current.dir;
      const meta = r.rootMeta ?? current.meta;
      const expected = JSON.parse(await readFile(meta, 'utf8')).manifest;
      const files = diffManifest(expected, await scanRoot(dir));
      findings.push(...files);
      if (files.length > 0 && dir === current.dir) {
        // Replace, never patch: a tampered root is moved aside (kept for forensics with the instances on
        // it) so the next start unpacks a fresh one from the verified layers.
        const aside = `${current.dir}.tainted-${randomBytes(4).toString('hex')}`;
        await rename(current.dir, aside);
        await rename(current.meta, `${aside}.json`);
        for (const other of instances.values()) {
          if ((other.record.rootDir ?? unpacker.paths(other.record.image).dir) !== current.dir) continue;
          other.record.rootDir = aside;
          other.record.rootMeta = `${aside}.json`;
          persist(other);
        }
        logger.warn({ image: r.image, aside }, 'root changed on disk: moved aside, the next start unpacks it again');
      }
      const command = r.argv.join(' ');
      if (r.status.state !== 'stopped' && r.status.state !== 'quarantined') {
        const actual = r.status.pid === null ? null : await readCmdline(r.status.pid);
        if (actual === null)
          findings.push({ kind: 'process-gone', subject: command, expected: 'running', actual: null });
        else if (!sameArgv(actual, r.argv)) {
          findings.push({ kind: 'process-mismatch', subject: command, expected: command, actual: actual.join(' ') });
        }
      }
      const onDisk = await readFile(join(dirOf(id), 'instance.json'), 'utf8')
        .then((text) => (JSON.parse(text) as InstanceRecord).configDigest as string)
        .catch(() => null);
      if (onDisk !== r.configDigest) {
        findings.push({ kind: 'config-changed', subject: 'configDigest', expected: r.configDigest, actual: onDisk });
      }
      return { instance: id, checkedAt: clock.now().toISOString(), findings } satisfies DriftReport;
    },
    async strays() {
      const table = await parentTable();
      const known = new Set<number>();
      for (const pid of launching) {
        known.add(pid);
        for (const p of descendantsOf(pid, table)) known.add(p);
      }
      for (const live of instances.values()) {
        const pid = live.record.status.pid;
        if (pid !== null && LIVE_STATES.has(live.record.status.state)) {
          known.add(pid);
          for (const p of descendantsOf(pid, table)) known.add(p);
        }
      }
      const marker = `${rootsDir}/`;
      const found: Array<{ pid: number; command: string }> = [];
      for (const pid of table.keys()) {
        if (known.has(pid) || pid === process.pid) continue;
        const argv = await readCmdline(pid);
        if (argv?.some((a) => a.includes(marker))) found.push({ pid, command: argv.join(' ') });
      }
      return found;
    },
    async logs(id, lines = 100) {
      const live = get(id);
      return live.tail?.lastLines(lines) ?? readLastLines(join(dirOf(id), 'log'), lines);
    },
    async gc() {
      let removed = 0;
      const now = clock.now().getTime();
      for (const [id, live] of instances) {
        const s = live.record.status;
        const done = s.state === 'stopped' || s.state === 'exited';
        const expired = s.state === 'quarantined' && now - new Date(s.stoppedAt ?? 0).getTime() >= retention;
        if (!done && !expired) continue;
        instances.delete(id);
        await rm(dirOf(id), { recursive: true, force: true });
        removed++;
      }
      const used = new Set([...instances.values()].map((l) => parseDigest(l.record.image).hex));
      for (const hex of starting.keys()) used.add(hex);
      let roots = 0;
      for (const name of await readdir(rootsDir)) {
        const hex = name.split('.')[0]!;
        if (used.has(hex)) continue;
        if (name.includes('.tmp-')) continue; // an unpack in progress or left by a crash; never in use
        await (name.endsWith('.json') ? rm(join(rootsDir, name), { force: true }) : removeTree(join(rootsDir, name)));
        if (!name.endsWith('.json')) roots++;
      }
      return { instances: removed, roots };
    },
    async close() {
      if (detached) return;
      await Promise.all(
        [...instances.values()]
          .filter((l) => LIVE_STATES.has(l.record.status.state))
          .map((l) => end(l.record.id, 'stopped', 10_000)),
      );
      await driver.detach();
    },
    async detach() {
      detached = true;
      for (const live of instances.values()) {
        live.health?.stop();
        if (live.poll !== null) clearInterval(live.poll);
        live.poll = null;
        await live.tail?.flush();
        live.tail?.stop();
        live.detached = true;
        live.child?.unref();
        for (const w of live.waiters.splice(0)) w.reject(new RuntimeError('NOT_READY', 'Cannot wait: driver detached'));
      }
    },
  };
  return driver;
}
