import type { Digest } from '../core/index.ts';
import type { Router } from '../runtime/index.ts';
import { deleteEnvironment } from './delete-environment.ts';
import { DeployError } from './deploy-error.ts';
import { deployRecords, type RolloutRecord } from './deploy-records.ts';
import { createDeployActions, type DeployDeps, type StoredRollout } from './deploy-service.ts';
import { createReconciler, type ReconcilerDeps, type SecretResolver } from './reconciler.ts';

export interface DeployServiceDeps extends DeployDeps {
  openRouter: ReconcilerDeps['openRouter'];
  /** Where secret references become values at instance start (a later release wires a secret store). */
  resolveSecrets?: SecretResolver;
  logger?: ReconcilerDeps['logger'];
  holder?: string;
  intervalMs?: number;
  driftIntervalMs?: number;
  leaseTtlMs?: number;
}

/** All traffic is on the rollout's target; only the blue-green scale-down delay keeps the old release warm. */
function switchedOver(rollout: RolloutRecord): boolean {
  const machine = (rollout.state as unknown as StoredRollout).machine ?? null;
  return (
    rollout.status === 'active' &&
    machine !== null &&
    machine.weights[rollout.target] === 100 &&
    machine.pausedUntil !== null
  );
}

/**
 * The deploy room's service: environments (versioned), deploy, rollout commands, rollback, status and
 * drift, with the reconciler that carries them out on the runtime driver and the routers.
 */
export function createDeployService(deps: DeployServiceDeps) {
  const { database, driver, clock, release } = deps;
  const { db } = database;
  const actions = createDeployActions(deps);
  const { logger, ...rest } = deps;
  const reconciler = createReconciler({ ...rest, actions, ...(logger === undefined ? {} : { logger }) });

  /** A rollout as status and `fixity run wait` show it: where it stands and its newest steps. */
  async function rolloutView(rollout: RolloutRecord) {
    const machine = (rollout.state as unknown as StoredRollout).machine ?? null;
    return {
      id: rollout.id,
      status: rollout.status,
      target: rollout.target,
      stable: rollout.stable,
      strategy: machine?.strategy ?? null,
      phase: machine?.phase ?? null,
      stepIndex: machine?.stepIndex ?? null,
      message: machine?.message ?? '',
      switched: switchedOver(rollout),
      createdBy: rollout.createdBy,
      createdAt: rollout.createdAt,
      updatedAt: rollout.updatedAt,
      steps: await deployRecords.steps(db, rollout.id, 50),
    };
  }

  /** Where a service stands; `since` is the version a deletion of the environment reached, whose rollouts are gone. */
  async function serviceStatus(environment: string, service: string, since: number) {
    const rec = await deployRecords.service(db, environment, service);
    const rollouts = await deployRecords.rollouts(db, environment, service, 5, since);
    const latest = rollouts[0] ?? null;
    const router: Router | undefined = reconciler.router(environment, service);
    const instances = driver
      .list()
      .filter((i) => i.environment === environment && i.service === service)
      .map((i) => ({
        id: i.id,
        release: i.release,
        image: i.image,
        state: i.state,
        address: `${i.address.host}:${i.address.port}`,
        sandboxed: i.sandboxed,
        startedAt: i.startedAt,
        reason: i.reason,
      }));
    return {
      environment,
      service,
      url: router?.url ?? null,
      currentRelease: rec?.currentRelease ?? null,
      previousRelease: rec?.previousRelease ?? null,
      weights: router?.table().weights ?? {},
      rollout: latest === null ? null : await rolloutView(latest),
      instances,
    };
  }

  return {
    /** Stores the spec's next version; the reconciler acts on it at once (scaling, removing services). */
    async applyEnvironment(yaml: string, actor: string) {
      const applied = await actions.applyEnvironment(yaml, actor);
      if (applied.changed) reconciler.wake();
      return applied;
    },
    /** The newest version of an environment; ENV_UNKNOWN says it `Cannot <what>`. */
    environment: (name: string, what = `show ${name}`) => actions.environmentOf(name, what),
    environments: () => deployRecords.environments(db),

    /**
     * Deletes an environment and removes every service of it, as dropping them from the spec would; refused
     * while a rollout is in progress unless `force`. The name can be applied again afterwards.
     */
    deleteEnvironment: (req: { environment: string; actor: string; force?: boolean; signal?: AbortSignal }) =>
      deleteEnvironment(req, { database, release, driver, clock, reconciler }),

    /** One rollout by id (a deploy or rollback names it), with its environment and service. */
    async rollout(id: string) {
      const rollout = await deployRecords.rollout(db, id);
      if (rollout === null) throw new DeployError('ROLLOUT_UNKNOWN', `Cannot find rollout "${id.slice(0, 80)}"`);
      return { environment: rollout.environment, service: rollout.service, ...(await rolloutView(rollout)) };
    },

    /** What deploy would do for each service, changing nothing: a dry run. */
    planDeploy: actions.planDeploy,

    async deploy(req: { environment: string; service?: string; actor: string }) {
      const outcomes = await actions.deploy(req);
      reconciler.wake();
      return outcomes;
    },

    async command(req: Parameters<typeof actions.command>[0]) {
      const done = await actions.command(req);
      reconciler.wake();
      return done;
    },

    /**
     * Back to the previous release: instant while its instances are still warm (the router flips at once),
     * otherwise a new rollout to it. During a rollout, rollback aborts it. Either way the environment's
     * stage is held, so automatic promotion does not bring the bad release back.
     */
    async rollback(req: { environment: string; service: string; actor: string; reason?: string }) {
      const env = await actions.environmentOf(req.environment, 'roll back');
      const svc = actions.serviceOf(env, req.service, 'roll back');
      const rec = await deployRecords.service(db, env.name, svc.name);
      const reason = req.reason ?? `rollback of ${env.name}/${svc.name} by ${req.actor}`;
      const hold = () =>
        release
          .hold({ stage: env.spec.stage, actor: req.actor, reason })
          .then(() => true)
          .catch(() => false);
      const active = rec?.rolloutId ? await deployRecords.rollout(db, rec.rolloutId) : null;
      if (active !== null && active.status === 'active') {
        // Aborting sends all traffic back to the stable release; while it is still warm (the blue-green
        // scale-down delay) that is instant, and the reconcile pass awaited here has flipped the router.
        const warm = switchedOver(active);
        await actions.command({ environment: env.name, service: svc.name, command: 'abort', actor: req.actor });
        await reconciler.reconcile();
        return {
          mode: warm ? ('instant' as const) : ('abort' as const),
          rollout: active.id,
          release: active.stable,
          held: await hold(),
        };
      }
      const previous = rec?.previousRelease ?? null;
      if (rec === null || previous === null || rec.currentRelease === null)
        throw new DeployError(
          'NO_PREVIOUS_RELEASE',
          `Cannot roll back ${env.name}/${svc.name}: there is no previous release`,
        );
      const prevRelease = await deployRecords.release(db, previous);
      if (prevRelease === null)
        throw new DeployError('NO_PREVIOUS_RELEASE', `Cannot roll back: release ${previous} is unknown`);
      if (await release.isVetoed(prevRelease.image))
        throw new DeployError('VETOED', `Cannot roll back to ${prevRelease.image}: it is vetoed`);
      const warm = driver
        .list()
        .some(
          (i) => i.environment === env.name && i.service === svc.name && i.release === previous && i.state === 'ready',
        );
      const current = rec.currentRelease;
      if (warm) {
        await db.transaction().execute(async (trx) => {
          await release.log.enqueue(
            trx,
            {
              event: 'rollout.rollback',
              actor: req.actor,
              time: clock.now().toISOString(),
              digests: [prevRelease.image, previous],
              environment: env.name,
              service: svc.name,
              from: current,
              to: previous,
              mode: 'instant',
            },
            [prevRelease.image, previous],
          );
          await deployRecords.upsertService(
            trx,
            { ...rec, currentRelease: previous, previousRelease: current },
            clock.now().toISOString(),
          );
        });
        await database.durable();
        await reconciler.flip(env.name, svc.name, previous as Digest);
        reconciler.wake();
        return { mode: 'instant' as const, rollout: null, release: previous, held: await hold() };
      }
      const id = await db.transaction().execute((trx) =>
        actions.beginRollout(trx, {
          env,
          svc: { ...svc, strategy: { kind: 'rolling', maxSurge: 1, maxUnavailable: 0 } },
          target: previous,
          image: prevRelease.image,
          stable: current,
          actor: req.actor,
          event: 'rollout.rollback',
        }),
      );
      await database.durable();
      reconciler.wake();
      return { mode: 'rollout' as const, rollout: id, release: previous, held: await hold() };
    },

    /** Where each service stands: serving release, weights, the latest rollout with its steps, instances. */
    async status(environment: string, service?: string) {
      const env = await actions.environmentOf(environment, `show ${environment}`);
      const names =
        service === undefined ? env.spec.services.map((s) => s.name) : [actions.serviceOf(env, service, 'show').name];
      const since = (await deployRecords.deletion(db, env.name))?.version ?? 0;
      const services = [];
      for (const name of names) services.push(await serviceStatus(env.name, name, since));
      return { environment: env.name, stage: env.spec.stage, version: env.version, digest: env.digest, services };
    },

    /**
     * Drift recorded in an environment, newest first, and a fresh check of every ready instance (left out with
     * `live: false`, for a view that polls: each check reads an instance's whole tree).
     */
    async drift(environment: string, options: { live?: boolean } = {}) {
      const env = await actions.environmentOf(environment, `check drift in ${environment}`);
      const live = [];
      for (const inst of options.live === false ? [] : driver.list()) {
        if (inst.environment !== env.name || inst.state !== 'ready') continue;
        live.push(await driver.verify(inst.id));
      }
      const since = (await deployRecords.deletion(db, env.name))?.deletedAt ?? '';
      return { environment: env.name, checked: live, recorded: await deployRecords.drift(db, env.name, 50, since) };
    },

    /** Records in the ledger that the driver refused to create an instance (a bad provisioning key). */
    async recordRefusal(spec: { id: string; environment: string; release: string; image: string }, err: unknown) {
      const code = (err as { code?: unknown }).code;
      await db.transaction().execute((trx) =>
        release.log.enqueue(
          trx,
          {
            event: 'deploy.provisioning.refused',
            actor: 'fixity:runtime',
            time: clock.now().toISOString(),
            digests: [spec.image, spec.release],
            environment: spec.environment,
            instance: spec.id,
            code: typeof code === 'string' ? code : 'REFUSED',
            reason: (err as Error).message,
          },
          [spec.image, spec.release],
        ),
      );
      await release.log.flush().catch(() => undefined);
    },

    reconciler,
    start: () => reconciler.start(),
    stop: (options?: { stopInstances?: boolean }) => reconciler.stop(options),
  };
}

export type DeployService = ReturnType<typeof createDeployService>;
