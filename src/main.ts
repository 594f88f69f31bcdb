// The one composition root: turns configuration into running parts and wires them together.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import YAML from 'yaml';
import { createAccess } from './access/index.ts';
import { processAlive, type Signer, systemClock, verifyProvisioningKey } from './core/index.ts';
import { DEFAULT_DATA_DIR, DEFAULT_PORT, parseDuration, VERSION } from './defaults.ts';
import { createDeployService, createStoreImageSource } from './deploy/index.ts';
import { createLedger, type Ledger } from './ledger/index.ts';
import { createTagProtection, type ImmutabilityRule, parseImmutabilityRule } from './registry/index.ts';
import { createReleaseService, type ReleaseService } from './release/index.ts';
import { createLocalDriver, createRouter } from './runtime/index.ts';
import { createApp } from './server/index.ts';
import {
  createFsBlobStore,
  createRegistryMetadata,
  createTokenRecords,
  openDatabase,
  redactUrl,
} from './store/index.ts';
import { createTrustStore, generateKeyPair, loadSigner } from './trust/index.ts';

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_GC_GRACE_SECONDS = 3600;
export const DEFAULT_UPLOAD_EXPIRY_SECONDS = 24 * 3600;
const DEFAULT_DRIFT_INTERVAL = '2s';
const SHUTDOWN_GRACE_MS = 10_000;
/** How often registry events are sequenced into the ledger when nothing else wakes the feeder. */
const LEDGER_FEED_MS = 250;
/** How often auto-promotion looks again when nothing woke it (soak times and windows pass on their own). */
const AUTO_PROMOTION_MS = 5_000;

export interface ServerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** PostgreSQL URL; SQLite in the data dir when absent. */
  readonly databaseUrl: string | null;
  readonly databaseSchema: string | null;
  readonly publicUrl: string | null;
  readonly immutable: readonly ImmutabilityRule[];
  readonly anonymousPull: readonly string[];
  readonly maxManifestBytes: number;
  readonly gcGraceSeconds: number;
  readonly uploadExpirySeconds: number;
  /** How often the reconciler checks every instance for drift (and replaces what drifted). */
  readonly driftIntervalSeconds: number;
  readonly logLevel: string;
  /** The ledger's origin line (C2SP checkpoint); default derived from the ledger key, so it never changes. */
  readonly ledgerOrigin: string | null;
}

export interface ServerFlags {
  data?: string;
  listen?: string;
  db?: string;
  dbSchema?: string;
  publicUrl?: string;
  immutable?: string[];
  anonymousPull?: string[];
  maxManifestBytes?: string;
  gcGrace?: string;
  driftInterval?: string;
  logLevel?: string;
}

// 0 would check every instance without pause.
function driftInterval(text: string): number {
  const seconds = parseDuration(text);
  if (seconds <= 0) throw new RangeError(`Cannot check drift every "${text}": give at least 1s, e.g. 2s or 1m`);
  return seconds;
}

/** Merges flags over `DATA/config.yaml` over defaults, validates once and freezes. */
export function loadServerConfig(flags: ServerFlags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const dataDir = resolve(flags.data ?? env.FIXITY_DATA ?? DEFAULT_DATA_DIR);
  const file = join(dataDir, 'config.yaml');
  const fromFile = existsSync(file) ? ((YAML.parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>) : {};
  const listen =
    flags.listen ??
    env.FIXITY_LISTEN ??
    (typeof fromFile.listen === 'string' ? fromFile.listen : `127.0.0.1:${DEFAULT_PORT}`);
  const m = /^(.*):(\d+)$/.exec(listen);
  if (m === null || Number(m[2]) > 65535)
    throw new RangeError(`Cannot listen on "${listen}": use HOST:PORT, e.g. 127.0.0.1:7070`);
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
  const immutable = [...list(fromFile.immutable), ...(flags.immutable ?? [])].map(parseImmutabilityRule);
  const maxManifestBytes = Number(flags.maxManifestBytes ?? fromFile.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES);
  if (!Number.isInteger(maxManifestBytes) || maxManifestBytes < 1024) {
    throw new RangeError(`Cannot use a manifest limit of "${maxManifestBytes}": give bytes, at least 1024`);
  }
  const databaseUrl = flags.db ?? env.FIXITY_DB ?? (typeof fromFile.database === 'string' ? fromFile.database : null);
  return Object.freeze({
    dataDir,
    host: m[1]!.replace(/^\[(.*)\]$/, '$1'),
    port: Number(m[2]),
    databaseUrl,
    databaseSchema: flags.dbSchema ?? null,
    publicUrl:
      flags.publicUrl ?? env.FIXITY_PUBLIC_URL ?? (typeof fromFile.publicUrl === 'string' ? fromFile.publicUrl : null),
    immutable: Object.freeze(immutable),
    anonymousPull: Object.freeze([...list(fromFile.anonymousPull), ...(flags.anonymousPull ?? [])]),
    maxManifestBytes,
    gcGraceSeconds: parseDuration(flags.gcGrace ?? String(fromFile.gcGrace ?? `${DEFAULT_GC_GRACE_SECONDS}s`)),
    uploadExpirySeconds: DEFAULT_UPLOAD_EXPIRY_SECONDS,
    driftIntervalSeconds: driftInterval(
      flags.driftInterval ?? String(fromFile.driftInterval ?? DEFAULT_DRIFT_INTERVAL),
    ),
    logLevel: flags.logLevel ?? env.FIXITY_LOG_LEVEL ?? 'info',
    ledgerOrigin: typeof fromFile.ledgerOrigin === 'string' ? fromFile.ledgerOrigin : null,
  });
}

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly adminTokenFile: string;
  /** Finishes in-flight requests (uploads get SHUTDOWN_GRACE_MS), then closes the database. */
  stop(): Promise<void>;
}

/** Opens storage in the data dir, ensures an admin token, and listens. */
export async function startServer(config: ServerConfig, options: { logger?: Logger } = {}): Promise<RunningServer> {
  const logger =
    options.logger ?? pino({ level: config.logLevel, redact: ['req.headers.authorization', '*.secret', '*.token'] });
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(config.dataDir, 'server.pid'));
  const store = await openDatabase({
    url: config.databaseUrl ?? join(config.dataDir, 'fixity.db'),
    ...(config.databaseSchema === null ? {} : { schema: config.databaseSchema }),
  });
  const clock = systemClock;
  const blobs = await createFsBlobStore(config.dataDir);
  const metadata = createRegistryMetadata(store, { clock, isImmutable: createTagProtection(config.immutable) });
  const access = createAccess({
    records: createTokenRecords(store),
    clock,
    signingKey: await readOrCreateKey(join(config.dataDir, 'bearer.key')),
    anonymousPull: config.anonymousPull,
  });
  const ledgerSigner = await readOrCreateLedgerKey(config.dataDir);
  const origin = config.ledgerOrigin ?? `fixity.local/ledger/${ledgerSigner.keyId.slice(0, 16)}`;
  const ledger = await createLedger({ database: store, signer: ledgerSigner, origin, clock });
  const trust = createTrustStore(store, clock);
  const feeder = startLedgerFeeder(ledger, logger);
  const release = createReleaseService({
    database: store,
    metadata,
    blobs,
    ledger,
    trust,
    signer: ledgerSigner,
    verifierId: `https://fixity.local/verifier/${ledgerSigner.keyId.slice(0, 16)}`,
    registryHost: config.publicUrl === null ? `${config.host}:${config.port}` : new URL(config.publicUrl).host,
    clock,
  });
  const autoPromotion = startAutoPromotion(release, logger);
  const routerMetrics = new Registry();
  // Set once the deploy service exists: the driver may report state while it adopts instances at start.
  let wakeReconciler = () => {};
  const driver = await createLocalDriver({
    stateDir: join(config.dataDir, 'runtime'),
    images: createStoreImageSource(store, blobs),
    logger,
    clock,
    // The driver trusts only keys this server signed, bound to the release and environment it starts.
    verifyKey: (token, expect) => {
      const claims = verifyProvisioningKey(token, ledgerSigner.publicKey, expect, clock.now());
      return { nonce: claims.nonce, quota: claims.quota };
    },
    onRefused: (spec, err) => deploy.recordRefusal(spec, err),
    // An instance turning ready or stopping moves a rollout on: reconcile now, not at the next tick.
    onStateChange: () => wakeReconciler(),
  });
  const deploy = createDeployService({
    database: store,
    release,
    driver,
    signer: ledgerSigner,
    clock,
    logger,
    driftIntervalMs: config.driftIntervalSeconds * 1000,
    // One server per data dir, so a restarted server is the same lease holder and resumes at once.
    holder: `fixity@${hostname()}:${createHash('sha256').update(resolve(config.dataDir)).digest('hex').slice(0, 16)}`,
    openRouter: async (environment, service, port) => {
      const open = async (p: number) => {
        const router = createRouter({ environment, service, host: config.host, port: p, registry: routerMetrics });
        await router.listen();
        return router;
      };
      // The port it had before, so URLs survive a restart; any free one if that is taken now.
      return port === null ? open(0) : open(port).catch(() => open(0));
    },
  });
  wakeReconciler = () => deploy.reconciler.wake();
  deploy.start();
  const adminTokenFile = join(config.dataDir, 'admin.token');
  if (!existsSync(adminTokenFile)) {
    const created = await access.createToken({ name: 'admin', scopes: ['admin'], repos: ['**'] }, 'fixity');
    await writeFile(adminTokenFile, `${created.secret}\n`, { mode: 0o600 });
    logger.info({ file: adminTokenFile }, 'wrote the admin token');
  }
  const app = await createApp({
    store,
    metadata,
    blobs,
    access,
    clock,
    logger,
    version: VERSION,
    maxManifestBytes: config.maxManifestBytes,
    gc: { graceMs: config.gcGraceSeconds * 1000, uploadExpiryMs: config.uploadExpirySeconds * 1000 },
    ledger,
    ledgerSigner,
    ledgerOrigin: origin,
    ledgerPublicKeyPem: await readFile(join(config.dataDir, 'ledger.pub'), 'utf8'),
    trust,
    release,
    deploy,
    extraMetrics: routerMetrics,
    onRegistryChange: () => {
      feeder.wake();
      autoPromotion.wake();
    },
    onReleaseChange: autoPromotion.wake,
    ...(config.publicUrl === null ? {} : { publicUrl: config.publicUrl }),
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  await writeFile(
    join(config.dataDir, 'server.json'),
    JSON.stringify({ url, pid: process.pid, version: VERSION }, null, 2),
  );
  logger.info(
    { url, database: config.databaseUrl === null ? 'sqlite' : redactUrl(config.databaseUrl), data: config.dataDir },
    'fixity is serving',
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // In-flight uploads get a grace period; after it their sockets close and the blob store discards
      // the partial chunk, so no half-written blob ever becomes visible.
      const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await app.close();
      clearTimeout(force);
      await autoPromotion.stop();
      await deploy.stop({ stopInstances: true });
      await feeder.stop();
      await ledger.close();
      await store.close();
      await rm(join(config.dataDir, 'server.json'), { force: true });
      await lock.release();
    })();
    return stopping;
  };
  return { url, app, adminTokenFile, stop };
}

// One server per data dir: a second one would race the first on SQLite and on the blob files.
async function acquireLock(path: string): Promise<{ release(): Promise<void> }> {
  try {
    await writeFile(path, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new Error(
        `Cannot start: another fixity server (pid ${pid}) is using this data dir; stop it or choose another --data`,
      );
    }
    await writeFile(path, String(process.pid));
  }
  return { release: () => rm(path, { force: true }) };
}

async function readOrCreateKey(path: string): Promise<Uint8Array> {
  try {
    return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
  } catch {
    const key = randomBytes(32);
    await writeFile(path, key.toString('base64'), { mode: 0o600, flag: 'wx' });
    return key;
  }
}

// The ledger key signs checkpoints and SETs; its public half is what every verifier pins.
async function readOrCreateLedgerKey(dataDir: string): Promise<Signer> {
  const file = join(dataDir, 'ledger.key');
  if (!existsSync(file)) {
    const pair = generateKeyPair('p256');
    await writeFile(file, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(join(dataDir, 'ledger.pub'), pair.publicKeyPem);
  }
  return loadSigner(await readFile(file, 'utf8'));
}

/**
 * Runs `task` one at a time: woken by `wake()` (a wake during a run queues exactly one more) and on a timer
 * as a safety net. A failed run is logged and retried on the next tick; `stop()` waits for the current run.
 */
export function startBackgroundTask(
  task: () => Promise<void>,
  options: { intervalMs: number; logger: Logger; what: string },
): { wake(): void; stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    if (running !== null) {
      again = true;
      return;
    }
    running = task()
      .catch((err: unknown) => options.logger.error({ err }, `cannot ${options.what}`))
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const timer = setInterval(run, options.intervalMs);
  timer.unref();
  return {
    wake: run,
    async stop() {
      clearInterval(timer);
      stopped = true;
      while (running !== null) await running;
    },
  };
}

/** Sequences registry events into the ledger; stopping runs one last pass so the final requests are in. */
export function startLedgerFeeder(ledger: Ledger, logger: Logger): { wake(): void; stop(): Promise<void> } {
  const feed = async () => {
    await ledger.feedEvents();
  };
  const loop = startBackgroundTask(feed, {
    intervalMs: LEDGER_FEED_MS,
    logger,
    what: 'feed registry events into the ledger',
  });
  return {
    wake: loop.wake,
    async stop() {
      await loop.stop();
      await feed().catch((err: unknown) => logger.error({ err }, 'cannot feed the final events'));
    },
  };
}

/** Auto-promotion (and repair of unfinished evidence), also on a timer: soak times and windows pass by themselves. */
export function startAutoPromotion(release: ReleaseService, logger: Logger): { wake(): void; stop(): Promise<void> } {
  return startBackgroundTask(
    async () => {
      for (const outcome of await release.runAutoPromotions()) logger.info({ outcome }, 'auto-promotion');
    },
    { intervalMs: AUTO_PROMOTION_MS, logger, what: 'run auto-promotion' },
  );
}
