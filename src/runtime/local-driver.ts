import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, type Digest, parseDigest, systemClock } from '../core/index.ts';
import type { DriverContext } from './driver-context.ts';
import { endInstance } from './end-instance.ts';
import { createInstanceStore, LIVE_STATES, type Spec } from './instance-store.ts';
import { adoptInstances } from './instance-watch.ts';
import { launchInstance } from './launch-instance.ts';
import { collectGarbage, findStrays } from './leftovers.ts';
import { readLastLines } from './log-files.ts';
import { type LogRotation, resolveLogRotation } from './log-tail.ts';
import { openProvisioningBook } from './provisioning-book.ts';
import { RuntimeError } from './runtime-error.ts';
import { detectSandbox, type SandboxSupport } from './sandbox.ts';
import type { ImageSource, InstanceSpec, InstanceStatus, RuntimeDriver, RuntimeLogger } from './types.ts';
import { createUnpacker } from './unpack.ts';
import { verifyInstance } from './verify-instance.ts';

export type { RuntimeLogger } from './types.ts';

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

const noopLogger: RuntimeLogger = { info() {}, warn() {}, error() {} };

/** The embedded driver: unpacks images into read-only roots and runs instances under bubblewrap when it can. */
export async function createLocalDriver(options: LocalDriverOptions): Promise<LocalDriver> {
  const logger = options.logger ?? noopLogger;
  const logRotation = resolveLogRotation(options.logRotation);
  const instancesDir = join(options.stateDir, 'instances');
  const rootsDir = join(options.stateDir, 'roots');
  await mkdir(instancesDir, { recursive: true });
  await mkdir(rootsDir, { recursive: true });
  const book = openProvisioningBook(join(options.stateDir, 'provisioning.json'));
  let support: Promise<SandboxSupport> | null = null;
  const ctx: DriverContext = {
    ...createInstanceStore(instancesDir, logger, options.onStateChange),
    logger,
    clock: options.clock ?? systemClock,
    host: options.host ?? '127.0.0.1',
    hostBinaries: options.hostBinaries ?? { node: process.execPath },
    logRotation,
    retentionMs: options.quarantineRetentionMs ?? 60 * 60 * 1000,
    rootsDir,
    unpacker: createUnpacker(rootsDir, options.images),
    sandboxSupport: () => (support ??= detectSandbox(options.sandbox ?? 'auto')),
    launching: new Set(),
    starting: new Map(),
  };
  const { instances, starting, get } = ctx;
  let detached = false;

  await adoptInstances(ctx, instancesDir);

  const refuse = (spec: Spec, err: unknown): never => {
    logger.warn({ instance: spec.id, release: spec.release, environment: spec.environment, err }, 'start refused');
    options.onRefused?.(spec, err);
    throw err;
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
        return await launchInstance(ctx, spec);
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
        ctx.settleWaiters(live);
      });
    },
    stop: (id, opts) => endInstance(ctx, id, 'stopped', opts?.graceMs ?? 10_000),
    async quarantine(id, reason) {
      const live = get(id);
      live.record.status.reason = reason;
      await endInstance(ctx, id, 'quarantined', 10_000);
      ctx.setState(live, { state: 'quarantined', reason });
      logger.warn({ instance: id, reason }, 'instance quarantined');
    },
    status: (id) => {
      const live = instances.get(id);
      return live === undefined ? undefined : ctx.snapshot(live);
    },
    list: () => [...instances.values()].map(ctx.snapshot),
    verify: (id) => verifyInstance(ctx, id),
    strays: () => findStrays(ctx),
    async logs(id, lines = 100) {
      const live = get(id);
      return live.tail?.lastLines(lines) ?? readLastLines(join(ctx.dirOf(id), 'log'), lines);
    },
    gc: () => collectGarbage(ctx),
    async close() {
      if (detached) return;
      await Promise.all(
        [...instances.values()]
          .filter((l) => LIVE_STATES.has(l.record.status.state))
          .map((l) => endInstance(ctx, l.record.id, 'stopped', 10_000)),
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
        await live.saved.catch(() => {});
        for (const w of live.waiters.splice(0)) w.reject(new RuntimeError('NOT_READY', 'Cannot wait: driver detached'));
      }
    },
  };
  return driver;
}
