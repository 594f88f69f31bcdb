import { randomBytes } from 'node:crypto';
import { type Clock, canonicalJSON, type Digest } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { Router, RuntimeDriver } from '../runtime/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { type AnalysisRunResult, evaluateAnalysis } from './analysis.ts';
import { deployRecords, type EnvironmentVersion, type RolloutRecord, type RolloutStatus } from './deploy-records.ts';
import type { DeployActions, StoredRollout } from './deploy-service.ts';
import { checkDrift } from './drift-check.ts';
import type { AnalysisSpec, ServiceSpec } from './environment-spec.ts';
import { createLease } from './lease.ts';
import { environmentsToReconcile, type ReconciledEnvironment, removeServices } from './remove-services.ts';
import { createServiceRouters } from './service-routers.ts';
import { createStepRecorder, RECONCILER_ACTOR } from './step-recorder.ts';
import { type Action, type Command, type ReleaseCounts, step } from './strategy.ts';

export interface ReconcilerDeps {
  database: StoreDatabase;
  release: ReleaseService;
  driver: RuntimeDriver;
  actions: DeployActions;
  clock: Clock;
  /** Creates (and starts listening) the router of one service; `port` is the one it had before, if any. */
  openRouter(environment: string, service: string, port: number | null): Promise<Router>;
  logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
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

export type SecretResolver = (
  refs: ReadonlyArray<{ name: string; ref: string }>,
  context: { environment: string; service: string; release: Digest },
) => Promise<Record<string, string>>;

const LIVE = new Set(['starting', 'ready']);

interface PendingAnalysis {
  spec: AnalysisSpec;
  baseline: Digest | null;
  canary: Digest;
  mark: number;
  startedAt: number;
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
  const { record, recordInstance } = steps;
  const analyses = new Map<string, PendingAnalysis>();
  /** Instances whose start is under way, by id: they count as starting until the driver lists them. */
  const creating = new Map<string, { environment: string; service: string; release: Digest }>();
  let lastDrift = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let leader = false;

  const nowIso = () => clock.now().toISOString();

  /** Secret values for an instance's start; only names ever reach logs, steps or the ledger. */
  async function secretsFor(
    refs: ReadonlyArray<{ name: string; ref: string }>,
    context: { environment: string; service: string; release: Digest },
  ): Promise<Record<string, string>> {
    if (refs.length === 0) return {};
    if (deps.resolveSecrets === undefined)
      throw new Error(
        `Cannot start: the release needs secrets ${refs.map((r) => r.name).join(', ')} and no secret resolver is configured`,
      );
    return deps.resolveSecrets(refs, context);
  }

  const { instancesOf, retire } = routers;
  const syncRouter = routers.sync;
  const routerFor = routers.routerFor;

  /** Instances per release of one service; instances being created count as starting. */
  function counts(env: string, svc: string): Record<string, ReleaseCounts> {
    const out: Record<string, ReleaseCounts> = {};
    const add = (release: string, ready: boolean) => {
      const c = out[release] ?? { ready: 0, starting: 0, total: 0 };
      out[release] = c;
      c.total++;
      if (ready) c.ready++;
      else c.starting++;
    };
    for (const i of instancesOf(env, svc))
      if (LIVE.has(i.state) && !routers.isLeaving(i.id)) add(i.release, i.state === 'ready');
    for (const c of creating.values()) if (c.environment === env && c.service === svc) add(c.release, false);
    return out;
  }

  /** Creates instances of `releaseDigest` up to `want`, and retires the surplus (not-ready ones first). */
  async function scale(
    env: EnvironmentVersion,
    svc: ServiceSpec,
    releaseDigest: Digest,
    want: number,
    rollout: RolloutRecord | null,
  ): Promise<void> {
    const live = instancesOf(env.name, svc.name).filter(
      (i) => i.release === releaseDigest && LIVE.has(i.state) && !routers.isLeaving(i.id),
    );
    const pending = [...creating.values()].filter(
      (c) => c.environment === env.name && c.service === svc.name && c.release === releaseDigest,
    ).length;
    const have = live.length + pending;
    if (have < want) {
      const rel = await deployRecords.release(db, releaseDigest);
      if (rel === null) return;
      const missing = want - have;
      let key: string;
      try {
        key = await actions.provision(env.spec, { digest: rel.digest, image: rel.image }, missing);
      } catch (err) {
        await db.transaction().execute((trx) =>
          record(trx, rollout, 'provision', 'failed', (err as Error).message, [rel.image, rel.digest], {
            environment: env.name,
            service: svc.name,
          }),
        );
        return;
      }
      const who = { image: rel.image, release: rel.digest, environment: env.name, service: svc.name };
      for (let n = 0; n < missing; n++) {
        const id = `${env.name}-${svc.name}-${releaseDigest.slice(7, 15)}-${randomBytes(3).toString('hex')}`;
        creating.set(id, { environment: env.name, service: svc.name, release: releaseDigest });
        const config = rel.config as {
          env?: Record<string, string>;
          port?: number;
          health?: unknown;
          secrets?: Array<{ name: string; ref: string }>;
        };
        secretsFor(config.secrets ?? [], { environment: env.name, service: svc.name, release: rel.digest })
          .then((secrets) =>
            driver.start({
              id,
              environment: env.name,
              service: svc.name,
              release: rel.digest,
              image: rel.image,
              configDigest: rel.configDigest,
              env: { ...(config.env ?? {}), ...secrets },
              port: config.port ?? svc.port,
              health: (config.health ?? svc.health) as never,
              provisioningKey: key,
            }),
          )
          .then(
            () => recordInstance(rollout, 'instance.created', 'applied', id, { ...who, id }),
            (err: Error) =>
              recordInstance(rollout, 'instance.created', 'failed', `${id}: ${err.message}`, { ...who, id }),
          )
          .catch((err) => logger?.error({ err }, 'recording an instance failed'))
          .finally(() => {
            creating.delete(id);
            wake();
          });
      }
    } else if (live.length > want) {
      const order = [...live].sort(
        (a, b) => Number(a.state === 'ready') - Number(b.state === 'ready') || b.startedAt.localeCompare(a.startedAt),
      );
      for (const inst of order.slice(0, live.length - want)) {
        await retire(env.name, svc.name, inst, 'scaled down');
        await recordInstance(rollout, 'instance.stopped', 'applied', inst.id, inst);
      }
    }
  }

  /** Replaces, never patches: an instance that failed its health checks or exited is stopped and recreated. */
  async function replaceFailed(env: EnvironmentVersion, svc: ServiceSpec, rollout: RolloutRecord | null) {
    for (const inst of instancesOf(env.name, svc.name)) {
      if (inst.state !== 'unhealthy' || routers.isLeaving(inst.id)) continue;
      await retire(env.name, svc.name, inst, inst.reason ?? 'unhealthy');
      await recordInstance(rollout, 'instance.replaced', 'applied', `${inst.id}: ${inst.reason ?? 'unhealthy'}`, inst);
    }
  }

  /** Operator commands not yet applied; marked consumed in the transaction that stores their effect. */
  async function pendingCommands(rolloutId: string): Promise<Array<{ id: number; command: Command }>> {
    const rows = await db
      .selectFrom('deploy_commands')
      .select(['id', 'command'])
      .where('rollout_id', '=', rolloutId)
      .where('consumed_at', 'is', null)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: Number(r.id), command: r.command as Command }));
  }

  function finishAnalysis(rollout: RolloutRecord, router: Router): AnalysisRunResult | undefined {
    const pending = analyses.get(rollout.id);
    if (pending === undefined) return undefined;
    if (clock.now().getTime() - pending.startedAt < pending.spec.intervalMs) return undefined;
    analyses.delete(rollout.id);
    const canary = router.window(pending.canary, pending.mark);
    const baseline = pending.baseline === null ? null : router.window(pending.baseline, pending.mark);
    return { ...evaluateAnalysis(pending.spec, baseline, canary), at: nowIso() };
  }

  async function advance(env: EnvironmentVersion, svc: ServiceSpec, rollout: RolloutRecord) {
    const router = await routerFor(env.name, svc.name);
    const stored = JSON.parse(JSON.stringify(rollout.state)) as StoredRollout;
    const analysis = finishAnalysis(rollout, router);
    const pending = await pendingCommands(rollout.id);
    const commands = pending.map((p) => p.command);
    const { state, actions: todo } = step(svc, stored.machine, {
      now: clock.now(),
      counts: counts(env.name, svc.name),
      ...(analysis === undefined ? {} : { analysis }),
      commands,
    });
    const desired = { ...stored.desired };
    let weights: Record<string, number> | null = null;
    let finish: { status: RolloutStatus; reason: string } | null = null;
    for (const a of todo as Action[]) {
      if (a.kind === 'scale') desired[a.release] = a.replicas;
      else if (a.kind === 'weights') weights = a.weights;
      else if (a.kind === 'analyze' && !analyses.has(rollout.id))
        analyses.set(rollout.id, {
          spec: a.spec,
          baseline: a.baseline,
          canary: a.canary,
          mark: router.mark(),
          startedAt: clock.now().getTime(),
        });
      else if (a.kind === 'complete') finish = { status: 'completed', reason: 'promoted' };
      else if (a.kind === 'rollback')
        finish = { status: state.phase === 'aborted' ? 'aborted' : 'rolledBack', reason: a.reason };
    }
    const next: StoredRollout = { machine: state, desired };
    const changed = canonicalJSON(next) !== canonicalJSON(stored);
    if (changed || analysis !== undefined || commands.length > 0) {
      await db.transaction().execute(async (trx) => {
        const digests = [rollout.target];
        if (analysis !== undefined) {
          const detail = analysis.checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.name}: ${c.detail}`).join('; ');
          const result = analysis.inconclusive ? 'skipped' : analysis.passed ? 'applied' : 'failed';
          await record(trx, rollout, 'analysis', result, detail || 'inconclusive', digests, { analysis });
        }
        for (const c of commands) await record(trx, rollout, `command.${c}`, 'applied', c, digests);
        if (pending.length > 0)
          await trx
            .updateTable('deploy_commands')
            .set({ consumed_at: nowIso() })
            .where(
              'id',
              'in',
              pending.map((p) => p.id),
            )
            .execute();
        if (canonicalJSON(next.desired) !== canonicalJSON(stored.desired))
          await record(trx, rollout, 'scale', 'applied', describe(desired), digests, { desired });
        if (weights !== null && canonicalJSON(weights) !== canonicalJSON(stored.machine.weights))
          await record(trx, rollout, 'weights', 'applied', describe(weights), digests, { weights });
        if (state.phase !== stored.machine.phase)
          await record(trx, rollout, `phase.${state.phase}`, 'applied', state.message, digests);
        await trx
          .updateTable('deploy_rollouts')
          .set({ state: JSON.stringify(next), updated_at: nowIso() })
          .where('id', '=', rollout.id)
          .execute();
      });
    }
    for (const [rel, n] of Object.entries(desired)) await scale(env, svc, rel as Digest, n, rollout);
    await syncRouter(env.name, svc.name, weights ?? state.weights);
    if (finish !== null) await conclude(env, svc, rollout, finish);
  }

  async function conclude(
    env: EnvironmentVersion,
    svc: ServiceSpec,
    rollout: RolloutRecord,
    finish: { status: RolloutStatus; reason: string },
  ) {
    const serving = finish.status === 'completed' ? rollout.target : rollout.stable;
    await db.transaction().execute(async (trx) => {
      const current = await deployRecords.service(trx, env.name, svc.name);
      await trx
        .updateTable('deploy_rollouts')
        .set({ status: finish.status, updated_at: nowIso() })
        .where('id', '=', rollout.id)
        .execute();
      await record(trx, rollout, `rollout.${finish.status}`, 'applied', finish.reason, [rollout.target], {
        environment: env.name,
        service: svc.name,
        rollout: rollout.id,
      });
      await deployRecords.upsertService(
        trx,
        {
          environment: env.name,
          service: svc.name,
          currentRelease: serving,
          previousRelease: finish.status === 'completed' ? rollout.stable : (current?.previousRelease ?? null),
          rolloutId: null,
          routerPort: current?.routerPort ?? null,
        },
        nowIso(),
      );
    });
    analyses.delete(rollout.id);
    if (finish.status === 'rolledBack') {
      // Automation must not redo what analysis refused: hold automatic promotion into this stage.
      await release
        .hold({
          stage: env.spec.stage,
          actor: RECONCILER_ACTOR,
          reason: `rollout ${rollout.id} rolled back: ${finish.reason}`,
        })
        .catch((err: Error) => logger?.warn({ err: err.message }, 'could not hold the stage after a rollback'));
    }
    logger?.info(
      { environment: env.name, service: svc.name, rollout: rollout.id, status: finish.status },
      'rollout finished',
    );
  }

  /** Without a rollout: the serving release at its replica count, 100% of traffic, nothing else running. */
  async function steady(env: EnvironmentVersion, svc: ServiceSpec, serving: Digest | null) {
    if (serving !== null) await scale(env, svc, serving, svc.replicas, null);
    await syncRouter(env.name, svc.name, serving === null ? {} : { [serving]: 100 });
  }

  /** Retires instances of releases nobody wants any more (after a rollout finished or was rolled back). */
  async function collect(env: EnvironmentVersion, svc: ServiceSpec, wanted: ReadonlySet<string>) {
    for (const inst of instancesOf(env.name, svc.name)) {
      if (!LIVE.has(inst.state) || routers.isLeaving(inst.id) || wanted.has(inst.release)) continue;
      await retire(env.name, svc.name, inst, 'release no longer wanted');
      await recordInstance(null, 'instance.collected', 'applied', inst.id, inst);
    }
  }

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
          await replaceFailed(env, svc, null);
          const rollout = active.find((r) => r.environment === env.name && r.service === svc.name) ?? null;
          const record = await deployRecords.service(db, env.name, svc.name);
          if (rollout !== null) {
            await advance(env, svc, rollout);
            const after = await deployRecords.rollout(db, rollout.id);
            if (after !== null && after.status !== 'active') {
              const serving = after.status === 'completed' ? after.target : after.stable;
              await steady(env, svc, serving);
              await collect(env, svc, new Set(serving === null ? [] : [serving]));
            }
          } else {
            const serving = record?.currentRelease ?? null;
            await steady(env, svc, serving);
            await collect(env, svc, new Set(serving === null ? [] : [serving]));
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

function describe(map: Record<string, number>): string {
  return Object.entries(map)
    .map(([rel, n]) => `${rel.slice(7, 19)}=${n}`)
    .join(' ');
}
