import { randomBytes } from 'node:crypto';
import {
  type Clock,
  canonicalBytes,
  canonicalJSON,
  type Digest,
  digestOf,
  newId,
  type Signer,
  signProvisioningKey,
} from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { RuntimeDriver } from '../runtime/index.ts';
import type { Executor, StoreDatabase } from '../store/index.ts';
import * as checks from './deploy-checks.ts';
import { DeployError } from './deploy-error.ts';
import { planDeploy } from './deploy-plan.ts';
import { deployRecords, type EnvironmentVersion } from './deploy-records.ts';
import { type EnvironmentSpec, parseEnvironment, type ServiceSpec } from './environment-spec.ts';
import { configDigest, releaseConfig, releaseDigest } from './release-digest.ts';
import { initialState, type RolloutState } from './strategy.ts';

export interface DeployDeps {
  database: StoreDatabase;
  release: ReleaseService;
  driver: RuntimeDriver;
  /** The server key: signs provisioning keys; the driver verifies them with its public half. */
  signer: Signer;
  clock: Clock;
  /** Lifetime of a provisioning key (default 10 minutes). */
  provisioningTtlMs?: number;
}

/** What a rollout row stores: the strategy's state, plus the instance counts and weights last applied. */
export interface StoredRollout {
  readonly machine: RolloutState;
  readonly desired: Record<string, number>;
}

export interface DeployOutcome {
  readonly service: string;
  readonly result: 'started' | 'unchanged' | 'in-progress';
  readonly release: Digest;
  readonly image: Digest;
  readonly rollout: string | null;
  readonly message: string;
}

const ENV_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The deploy room's decisions that start from a person: environment versions, deploy (which digest may
 * run where), rollout commands and rollback. The reconciler (reconciler.ts) carries them out.
 */
export function createDeployActions(deps: DeployDeps) {
  const { database, release, clock } = deps;
  const { db } = database;
  const log = release.log;
  const ttl = deps.provisioningTtlMs ?? 10 * 60_000;

  /** Writes a ledger leaf for a deploy event inside `trx`. */
  const leaf = (trx: Executor, event: string, actor: string, digests: readonly string[], detail: object) =>
    log.enqueue(trx, { event, actor, time: clock.now().toISOString(), digests: [...digests], ...detail }, digests);

  const environmentOf = (name: string, what: string) => checks.environmentOf(db, name, what);
  const serviceOf = checks.serviceOf;
  const resolveImage = (svc: ServiceSpec) => checks.resolveImage(release, svc);
  const assertDeployable = (env: EnvironmentSpec, image: Digest) => checks.assertDeployable(release, env, image);

  /** Stores a new active rollout of `target` (and its first step and ledger leaf) inside `trx`. */
  async function beginRollout(
    trx: Executor,
    r: {
      env: EnvironmentVersion;
      svc: ServiceSpec;
      target: Digest;
      image: Digest;
      stable: Digest | null;
      actor: string;
      event?: string;
    },
  ): Promise<string> {
    const { env, svc, target, image, stable } = r;
    const now = clock.now();
    const current = await deployRecords.service(trx, env.name, svc.name);
    const id = newId();
    const machine = initialState(svc, stable, target, now);
    const stored: StoredRollout = { machine, desired: stable === null ? {} : { [stable]: svc.replicas } };
    const logId = await leaf(trx, r.event ?? 'rollout.started', r.actor, [image, target], {
      environment: env.name,
      service: svc.name,
      rollout: id,
      release: target,
      stable,
      strategy: machine.strategy,
      envVersion: env.version,
    });
    await trx
      .insertInto('deploy_rollouts')
      .values({
        id,
        environment: env.name,
        service: svc.name,
        env_version: env.version,
        target,
        stable,
        status: 'active',
        state: JSON.stringify(stored),
        created_by: r.actor,
        created_at: now.toISOString(),
        updated_at: now.toISOString(),
      })
      .execute();
    await trx
      .insertInto('deploy_steps')
      .values({
        rollout_id: id,
        at: now.toISOString(),
        action: 'start',
        result: 'applied',
        detail: `ledger outbox ${logId}`,
      })
      .execute();
    await deployRecords.upsertService(
      trx,
      {
        environment: env.name,
        service: svc.name,
        currentRelease: stable,
        previousRelease: current?.previousRelease ?? null,
        rolloutId: id,
        routerPort: current?.routerPort ?? null,
      },
      now.toISOString(),
    );
    return id;
  }

  return {
    environmentOf,
    serviceOf,
    assertDeployable,
    beginRollout,
    /** What deploy would do, changing nothing (deploy-plan.ts). */
    planDeploy: (req: { environment: string; service?: string }) => planDeploy({ database, release }, req),

    /** Validates and stores an environment spec as its next version; an unchanged spec makes none. */
    async applyEnvironment(yaml: string, actor: string): Promise<EnvironmentVersion & { changed: boolean }> {
      const spec = parseEnvironment(yaml);
      if (!ENV_NAME.test(spec.name))
        throw new DeployError(
          'SPEC_INVALID',
          `Cannot apply: name "${spec.name}" must be lower-case letters, digits and -`,
        );
      const digest = digestOf(canonicalBytes(spec));
      const changed = await db.transaction().execute(async (trx) => {
        await log.lock(trx, `deploy:env:${spec.name}`);
        const current = await deployRecords.environment(trx, spec.name);
        if (current?.digest === digest) return false;
        // A deleted name starts from scratch: not while the services of its deleted version are still there,
        // or the new version would take over their releases, rollouts and instances.
        const leftover = current === null ? await deployRecords.services(trx, spec.name) : [];
        if (leftover.length > 0)
          throw new DeployError(
            'ENV_DELETING',
            `Cannot apply ${spec.name}: its deletion is still removing ${leftover.map((s) => s.service).join(', ')}; apply it again once they are gone (fixity env show ${spec.name} says when)`,
          );
        // Numbering goes on after a deletion: the ledger names each version once.
        const version = (await deployRecords.latestVersion(trx, spec.name)) + 1;
        const logId = await leaf(trx, 'environment.applied', actor, [digest], {
          environment: spec.name,
          stage: spec.stage,
          version,
        });
        await trx
          .insertInto('deploy_environments')
          .values({
            name: spec.name,
            version,
            digest,
            yaml,
            spec: canonicalJSON(spec),
            applied_by: actor,
            applied_at: clock.now().toISOString(),
            log_id: logId,
          })
          .execute();
        return true;
      });
      await database.durable();
      if (changed) await log.flush().catch(() => undefined);
      const stored = (await deployRecords.environment(db, spec.name)) as EnvironmentVersion;
      return { ...stored, changed };
    },

    /**
     * Starts a rollout of each named service (or all) to the release its spec asks for now. A release is the
     * image digest with the config digest; an unchanged release starts nothing.
     */
    async deploy(req: { environment: string; service?: string; actor: string }): Promise<DeployOutcome[]> {
      const env = await environmentOf(req.environment, `deploy to ${req.environment}`);
      const services =
        req.service === undefined ? env.spec.services : [serviceOf(env, req.service, `deploy ${req.service}`)];
      const outcomes: DeployOutcome[] = [];
      for (const svc of services) {
        const image = await resolveImage(svc);
        await assertDeployable(env.spec, image);
        const config = releaseConfig(svc, env.spec);
        const cfgDigest = configDigest(config);
        const target = releaseDigest(image, cfgDigest);
        const now = clock.now();
        const outcome = await db.transaction().execute(async (trx): Promise<DeployOutcome> => {
          await log.lock(trx, `deploy:svc:${env.name}/${svc.name}`);
          const current = await deployRecords.service(trx, env.name, svc.name);
          const active = current?.rolloutId ? await deployRecords.rollout(trx, current.rolloutId) : null;
          const state = checks.deployState(current, active, target);
          if (state.kind === 'in-progress')
            return {
              service: svc.name,
              result: 'in-progress',
              release: target,
              image,
              rollout: state.rollout.id,
              message: 'this release is already rolling out',
            };
          if (state.kind === 'conflict')
            throw new DeployError(
              'ROLLOUT_CONFLICT',
              `Cannot deploy ${svc.name}: rollout ${state.rollout.id} of ${state.rollout.target.slice(7, 19)} is in progress (fixity rollout abort ${env.name} ${svc.name}, or wait)`,
            );
          if (state.kind === 'unchanged')
            return {
              service: svc.name,
              result: 'unchanged',
              release: target,
              image,
              rollout: null,
              message: 'already serving this release',
            };
          if ((await deployRecords.release(trx, target)) === null) {
            await trx
              .insertInto('deploy_releases')
              .values({
                digest: target,
                environment: env.name,
                service: svc.name,
                repository: svc.image.repository,
                image,
                config_digest: cfgDigest,
                config: canonicalJSON(config),
                created_at: now.toISOString(),
                created_by: req.actor,
              })
              .execute();
          }
          const id = await beginRollout(trx, {
            env,
            svc,
            target,
            image,
            stable: current?.currentRelease ?? null,
            actor: req.actor,
          });
          return {
            service: svc.name,
            result: 'started',
            release: target,
            image,
            rollout: id,
            message: 'rollout started',
          };
        });
        outcomes.push(outcome);
      }
      await database.durable();
      await log.flush().catch(() => undefined);
      return outcomes;
    },

    /** Queues pause, resume, abort or promote for the service's active rollout. */
    async command(req: {
      environment: string;
      service: string;
      command: 'pause' | 'resume' | 'abort' | 'promote';
      actor: string;
    }) {
      const env = await environmentOf(req.environment, `${req.command} the rollout`);
      serviceOf(env, req.service, `${req.command} the rollout`);
      const svc = await deployRecords.service(db, env.name, req.service);
      const rollout = svc?.rolloutId ? await deployRecords.rollout(db, svc.rolloutId) : null;
      if (rollout === null || rollout.status !== 'active')
        throw new DeployError(
          'ROLLOUT_UNKNOWN',
          `Cannot ${req.command}: ${env.name}/${req.service} has no rollout in progress`,
        );
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('deploy_commands')
          .values({
            rollout_id: rollout.id,
            command: req.command,
            actor: req.actor,
            at: clock.now().toISOString(),
            consumed_at: null,
          })
          .execute();
        await leaf(trx, `rollout.${req.command}`, req.actor, [rollout.target], {
          environment: env.name,
          service: req.service,
          rollout: rollout.id,
        });
      });
      await database.durable();
      await log.flush().catch(() => undefined);
      return { rollout: rollout.id, command: req.command, queued: true };
    },

    /** Mints a provisioning key for `quota` instances of a release, after checking it may run there. */
    async provision(env: EnvironmentSpec, rel: { digest: Digest; image: Digest }, quota: number): Promise<string> {
      await assertDeployable(env, rel.image);
      const iat = Math.floor(clock.now().getTime() / 1000);
      return signProvisioningKey(deps.signer, {
        release: rel.digest,
        environment: env.name,
        quota,
        iat,
        exp: iat + Math.ceil(ttl / 1000),
        nonce: randomBytes(16).toString('hex'),
      });
    },
  };
}

export type DeployActions = ReturnType<typeof createDeployActions>;
