import { randomBytes } from 'node:crypto';
import type { Clock, Digest } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { Router, RuntimeDriver } from '../runtime/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { deployRecords } from './deploy-records.ts';
import type { DeployActions } from './deploy-service.ts';
import { checkDrift } from './drift-check.ts';
import { createLease } from './lease.ts';
import { collect, replaceFailed, steady } from './reconcile-instances.ts';
import { advance } from './reconcile-rollout.ts';
import type { ReconcilerContext, ReconcilerLogger, SecretResolver } from './reconciler-context.ts';
import { environmentsToReconcile, type ReconciledEnvironment, removeServices } from './remove-services.ts';
import { createServiceRouters } from './service-routers.ts';
import { createStepRecorder } from './step-recorder.ts';

/**
 * The reconciler's loop: the lease, the pass over every environment and service, and the timer and wake-ups
 * that run it one pass at a time. The steps a pass takes live beside it, on a shared context: instances in
 * reconcile-instances.ts, rollouts in reconcile-rollout.ts.
 */

export type { SecretResolver } from './reconciler-context.ts';

export interface ReconcilerDeps {
  database: StoreDatabase;
  release: ReleaseService;
  driver: RuntimeDriver;
  actions: DeployActions;
  clock: Clock;
  /** Creates (and starts listening) the router of one service; `port` is the one it had before, if any. */
  openRouter(environment: string, service: string, port: number | null): Promise<Router>;
  logger?: ReconcilerLogger;
  /**
   * The hook where secret references become values, at instance start only (never stored, never in the
   * config digest). Absent: a release that declares secrets cannot start, and says why.
   */
  resolveSecrets?: SecretResolver;
  /** This server's name in the lease. */
  holder?: string;
  intervalMs?: number;
  driftIntervalMs?: number;
  leaseTtlMs?: number;
}

/**
 * Compares desired and actual state and closes the gap, one small idempotent step at a time: on every
 * event (`wake`) and every `intervalMs`. Each step's result (applied / failed / skipped) is stored with its
 * rollout and sent to the ledger; the rollout's state is stored after each step, so a server killed at any
 * point resumes where it was. Only the holder of the store lease reconciles.
 */
export function createReconciler(deps: ReconcilerDeps) {
  const { database, driver, actions, clock, release } = deps;
  const { db } = database;
  const log = release.log;
  const logger = deps.logger;
  const interval = deps.intervalMs ?? 1000;
  const driftInterval = deps.driftIntervalMs ?? 2000;
  const lease = createLease({
    db,
    clock,
    name: 'deploy-reconciler',
    holder: deps.holder ?? `fixity-${process.pid}-${randomBytes(4).toString('hex')}`,
    ttlMs: deps.leaseTtlMs ?? 10_000,
  });
  const routers = createServiceRouters({ db, driver, clock, openRouter: deps.openRouter });
  const steps = createStepRecorder({ database, release, clock });
  const ctx: ReconcilerContext = {
    database,
    db,
    release,
    driver,
    actions,
    clock,
    logger,
    resolveSecrets: deps.resolveSecrets,
    routers,
    steps,
    analyses: new Map(),
    creating: new Map(),
    nowIso: () => clock.now().toISOString(),
    wake,
  };
  const { analyses, creating } = ctx;
  let lastDrift = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let leader = false;

  const syncRouter = routers.sync;
  const routerFor = routers.routerFor;

  /** Removes the services `env` no longer declares (all, once deleted), and the analyses of their rollouts. */
  async function removeUndeclared(env: ReconciledEnvironment) {
    const creatingNow = (e: string, s: string) =>
      [...creating.values()].some((c) => c.environment === e && c.service === s);
    const results = await removeServices(env, { database, routers, steps, clock, creating: creatingNow });
    for (const r of results) {
      const where = { environment: env.name, service: r.service };
      if (r.kind === 'removed') {
        for (const id of r.abortedRollouts) analyses.delete(id);
        logger?.info({ ...where, router: r.router, stopped: r.stopped }, 'service removed');
      } else if (r.kind === 'failed') logger?.error({ ...where, err: r.error }, 'removing a service failed');
      else logger?.warn({ ...where, reason: r.reason }, 'service removal waits');
    }
  }

  async function tick() {
    const envs = await environmentsToReconcile({ database, routers });
    // Nothing to run: no lease taken, so an idle server writes nothing.
    if (envs.length === 0 && !leader) return;
    if (!(await lease.acquire())) {
      leader = false;
      return;
    }
    leader = true;
    const active = await deployRecords.activeRollouts(db);
    for (const env of envs) {
      for (const svc of env.spec.services) {
        try {
          await routerFor(env.name, svc.name, svc.router.port);
          await replaceFailed(ctx, env, svc, null);
          const rollout = active.find((r) => r.environment === env.name && r.service === svc.name) ?? null;
          const record = await deployRecords.service(db, env.name, svc.name);
          if (rollout !== null) {
            await advance(ctx, env, svc, rollout);
            const after = await deployRecords.rollout(db, rollout.id);
            if (after !== null && after.status !== 'active') {
              const serving = after.status === 'completed' ? after.target : after.stable;
              await steady(ctx, env, svc, serving);
              await collect(ctx, env, svc, new Set(serving === null ? [] : [serving]));
            }
          } else {
            const serving = record?.currentRelease ?? null;
            await steady(ctx, env, svc, serving);
            await collect(ctx, env, svc, new Set(serving === null ? [] : [serving]));
          }
        } catch (err) {
          logger?.error({ err, environment: env.name, service: svc.name }, 'reconcile failed');
        }
      }
      await removeUndeclared(env);
    }
    if (clock.now().getTime() - lastDrift >= driftInterval) {
      lastDrift = clock.now().getTime();
      await checkDrift(envs, { database, release, driver, routers, clock, logger }).catch((err) =>
        logger?.error({ err }, 'drift check failed'),
      );
      await driver.gc().catch((err) => logger?.error({ err }, 'runtime gc failed'));
    }
    await database.durable();
    await log.flush().catch((err) => logger?.warn({ err: (err as Error).message }, 'ledger append deferred'));
  }

  function run(): Promise<void> {
    if (running !== null) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await tick().catch((err) => logger?.error({ err }, 'reconcile tick failed'));
      } while (again && !stopped);
    })().finally(() => {
      running = null;
    });
    return running;
  }

  function wake() {
    if (!stopped) void run();
  }

  return {
    /** Runs one pass now (tests and the CLI's --wait use it through the service). */
    reconcile: run,
    wake,
    start() {
      stopped = false;
      timer = setInterval(wake, interval);
      timer.unref();
      wake();
    },
    get leader() {
      return leader;
    },
    router: (env: string, svc: string) => routers.get(env, svc),
    /** Instant rollback while the previous release is warm: flips the router to it at once. */
    async flip(env: string, svc: string, to: Digest) {
      await syncRouter(env, svc, { [to]: 100 });
    },
    async stop(options: { stopInstances?: boolean } = {}) {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      await running;
      await routers.closeAll();
      if (leader) await lease.release().catch(() => undefined);
      if (options.stopInstances ?? true) await driver.close();
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;
