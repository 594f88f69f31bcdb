import type { Digest } from '../core/index.ts';
import type { Database, Executor } from '../store/index.ts';
import type { EnvironmentSpec } from './environment-spec.ts';
import type { RolloutState } from './strategy.ts';

export interface EnvironmentVersion {
  readonly name: string;
  readonly version: number;
  readonly digest: Digest;
  readonly yaml: string;
  readonly spec: EnvironmentSpec;
  readonly appliedBy: string;
  readonly appliedAt: string;
}

/** A deletion of an environment: it covers `version` and every earlier one. */
export interface EnvironmentDeletionRecord {
  readonly name: string;
  readonly version: number;
  readonly digest: Digest;
  readonly deletedBy: string;
  readonly deletedAt: string;
}

export type RolloutStatus = 'active' | 'completed' | 'aborted' | 'rolledBack';

export interface RolloutRecord {
  readonly id: string;
  readonly environment: string;
  readonly service: string;
  readonly envVersion: number;
  readonly target: Digest;
  readonly stable: Digest | null;
  readonly status: RolloutStatus;
  readonly state: RolloutState;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ReleaseRecord {
  readonly digest: Digest;
  readonly environment: string;
  readonly service: string;
  readonly repository: string;
  readonly image: Digest;
  readonly configDigest: Digest;
  readonly config: Record<string, unknown>;
  readonly createdAt: string;
  readonly createdBy: string;
}

export interface ServiceRecord {
  readonly environment: string;
  readonly service: string;
  readonly currentRelease: Digest | null;
  readonly previousRelease: Digest | null;
  readonly rolloutId: string | null;
  readonly routerPort: number | null;
}

type RolloutRow = {
  id: string;
  environment: string;
  service: string;
  env_version: number;
  target: string;
  stable: string | null;
  status: string;
  state: string;
  created_by: string;
  created_at: string;
  updated_at: string;
};

const toRollout = (r: RolloutRow): RolloutRecord => ({
  id: r.id,
  environment: r.environment,
  service: r.service,
  envVersion: Number(r.env_version),
  target: r.target as Digest,
  stable: r.stable as Digest | null,
  status: r.status as RolloutStatus,
  state: JSON.parse(r.state) as RolloutState,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

type ServiceRow = Omit<Database['deploy_services'], 'updated_at'>;

const toService = (r: ServiceRow): ServiceRecord => ({
  environment: r.environment,
  service: r.service,
  currentRelease: r.current_release as Digest | null,
  previousRelease: r.previous_release as Digest | null,
  rolloutId: r.rollout_id,
  routerPort: r.router_port === null ? null : Number(r.router_port),
});

/** Reads of the deploy tables; writes happen in the service's transactions. */
export const deployRecords = {
  /** One version of an environment, or its newest unless it was deleted (a given version is always found). */
  async environment(db: Executor, name: string, version?: number): Promise<EnvironmentVersion | null> {
    let q = db.selectFrom('deploy_environments').selectAll().where('name', '=', name);
    q =
      version === undefined
        ? q
            .orderBy('version', 'desc')
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom('deploy_environment_deletions as d')
                    .select('d.version')
                    .whereRef('d.name', '=', 'deploy_environments.name')
                    .whereRef('d.version', '>=', 'deploy_environments.version'),
                ),
              ),
            )
        : q.where('version', '=', version);
    const row = await q.limit(1).executeTakeFirst();
    if (row === undefined) return null;
    return {
      name: row.name,
      version: Number(row.version),
      digest: row.digest as Digest,
      yaml: row.yaml,
      spec: JSON.parse(row.spec) as EnvironmentSpec,
      appliedBy: row.applied_by,
      appliedAt: row.applied_at,
    };
  },

  /** The highest version number an environment name ever had, deleted or not; 0 for a new name. */
  async latestVersion(db: Executor, name: string): Promise<number> {
    const row = await db
      .selectFrom('deploy_environments')
      .select((eb) => eb.fn.max('version').as('max'))
      .where('name', '=', name)
      .executeTakeFirst();
    return row?.max === null || row?.max === undefined ? 0 : Number(row.max);
  },

  /** The newest deletion of an environment name, or null if it was never deleted. */
  async deletion(db: Executor, name: string): Promise<EnvironmentDeletionRecord | null> {
    const row = await db
      .selectFrom('deploy_environment_deletions')
      .selectAll()
      .where('name', '=', name)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row === undefined) return null;
    return {
      name: row.name,
      version: Number(row.version),
      digest: row.digest as Digest,
      deletedBy: row.deleted_by,
      deletedAt: row.deleted_at,
    };
  },

  /** The newest version of every environment that is not deleted. */
  async environments(db: Executor): Promise<EnvironmentVersion[]> {
    const names = await db.selectFrom('deploy_environments').select('name').distinct().orderBy('name').execute();
    const out: EnvironmentVersion[] = [];
    for (const { name } of names) {
      const env = await deployRecords.environment(db, name);
      if (env !== null) out.push(env);
    }
    return out;
  },

  async release(db: Executor, digest: string): Promise<ReleaseRecord | null> {
    const row = await db.selectFrom('deploy_releases').selectAll().where('digest', '=', digest).executeTakeFirst();
    if (row === undefined) return null;
    return {
      digest: row.digest as Digest,
      environment: row.environment,
      service: row.service,
      repository: row.repository,
      image: row.image as Digest,
      configDigest: row.config_digest as Digest,
      config: JSON.parse(row.config) as Record<string, unknown>,
      createdAt: row.created_at,
      createdBy: row.created_by,
    };
  },

  async rollout(db: Executor, id: string): Promise<RolloutRecord | null> {
    const row = await db.selectFrom('deploy_rollouts').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? null : toRollout(row);
  },

  async activeRollouts(db: Executor): Promise<RolloutRecord[]> {
    const rows = await db
      .selectFrom('deploy_rollouts')
      .selectAll()
      .where('status', '=', 'active')
      .orderBy('created_at')
      .execute();
    return rows.map(toRollout);
  },

  /** Rollouts of one service, newest first; `afterVersion` leaves out those of a deleted incarnation. */
  async rollouts(
    db: Executor,
    environment: string,
    service?: string,
    limit = 20,
    afterVersion = 0,
  ): Promise<RolloutRecord[]> {
    let q = db
      .selectFrom('deploy_rollouts')
      .selectAll()
      .where('environment', '=', environment)
      .where('env_version', '>', afterVersion);
    if (service !== undefined) q = q.where('service', '=', service);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toRollout);
  },

  async steps(db: Executor, rolloutId: string, limit = 200) {
    const rows = await db
      .selectFrom('deploy_steps')
      .select(['at', 'action', 'result', 'detail'])
      .where('rollout_id', '=', rolloutId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().map((r) => ({ at: r.at, action: r.action, result: r.result, detail: r.detail }));
  },

  async service(db: Executor, environment: string, service: string): Promise<ServiceRecord | null> {
    const row = await db
      .selectFrom('deploy_services')
      .selectAll()
      .where('environment', '=', environment)
      .where('service', '=', service)
      .executeTakeFirst();
    return row === undefined ? null : toService(row);
  },

  /** Every service an environment has a record of, including ones its newest version no longer declares. */
  async services(db: Executor, environment: string): Promise<ServiceRecord[]> {
    const rows = await db
      .selectFrom('deploy_services')
      .selectAll()
      .where('environment', '=', environment)
      .orderBy('service')
      .execute();
    return rows.map(toService);
  },

  /** The environments some service record names. */
  async serviceEnvironments(db: Executor): Promise<string[]> {
    const rows = await db.selectFrom('deploy_services').select('environment').distinct().execute();
    return rows.map((r) => r.environment);
  },

  /** Forgets a service removed from its environment; its rollouts stay as history. */
  async deleteService(db: Executor, environment: string, service: string): Promise<void> {
    await db
      .deleteFrom('deploy_services')
      .where('environment', '=', environment)
      .where('service', '=', service)
      .execute();
  },

  /**
   * Writes what a deploy decides (releases, rollout) in one statement, so a writer racing it (the reconciler
   * recording a router's port as it opens) neither fails on the key nor is overwritten. `routerPort` is
   * written only with a new row: the port is setRouterPort's alone.
   */
  async upsertService(db: Executor, row: ServiceRecord, now: string): Promise<void> {
    const values = {
      current_release: row.currentRelease,
      previous_release: row.previousRelease,
      rollout_id: row.rolloutId,
      updated_at: now,
    };
    await db
      .insertInto('deploy_services')
      .values({ environment: row.environment, service: row.service, ...values, router_port: row.routerPort })
      .onConflict((oc) => oc.columns(['environment', 'service']).doUpdateSet(values))
      .execute();
  },

  /** Records the port a service's router listens on, leaving its releases and rollout as they are. */
  async setRouterPort(db: Executor, environment: string, service: string, port: number, now: string): Promise<void> {
    await db
      .insertInto('deploy_services')
      .values({
        environment,
        service,
        current_release: null,
        previous_release: null,
        rollout_id: null,
        router_port: port,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['environment', 'service']).doUpdateSet({ router_port: port, updated_at: now }))
      .execute();
  },

  /** Drift recorded in an environment, newest first; `after` leaves out what came before a deletion. */
  async drift(db: Executor, environment: string, limit = 50, after = '') {
    const rows = await db
      .selectFrom('deploy_drift')
      .selectAll()
      .where('environment', '=', environment)
      .where('at', '>', after)
      .orderBy('at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      environment: r.environment,
      service: r.service,
      instance: r.instance,
      release: r.release as Digest,
      findings: JSON.parse(r.findings) as unknown[],
      action: r.action,
      at: r.at,
    }));
  },
};
