import type { Generated } from 'kysely';

// The deploy room's tables. Environment versions and deletions, releases, drift records and rollout steps
// are append-only; a rollout's state row and a service's current pointer are updated in place (each update
// is also a step row, so the history stays). `log_id` names the release_log row that carries a change
// into the ledger, written in the same transaction.

/** One version of an environment spec; a version is never changed. */
export interface DeployEnvironmentTable {
  name: string;
  version: number;
  /** sha256 of the canonical JSON of the validated spec. */
  digest: string;
  yaml: string;
  spec: string;
  applied_by: string;
  applied_at: string;
  log_id: number;
}

/** An environment deleted at `version`: that version and every earlier one are gone. Never changed. */
export interface DeployEnvironmentDeletionTable {
  name: string;
  version: number;
  /** The digest of the version deleted. */
  digest: string;
  deleted_by: string;
  deleted_at: string;
  log_id: number;
}

/** A release: an image digest with a config digest; its own digest names it. Never changed. */
export interface DeployReleaseTable {
  digest: string;
  environment: string;
  service: string;
  repository: string;
  image: string;
  config_digest: string;
  /** Canonical JSON of the release config. */
  config: string;
  created_at: string;
  created_by: string;
}

/** A rollout of one release to one service; `state` is the strategy's JSON state, resumed after a crash. */
export interface DeployRolloutTable {
  id: string;
  environment: string;
  service: string;
  env_version: number;
  target: string;
  stable: string | null;
  /** active | completed | aborted | rolledBack */
  status: string;
  state: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** What each reconcile step did: applied, failed or skipped, with why. */
export interface DeployStepTable {
  id: Generated<number>;
  rollout_id: string;
  at: string;
  action: string;
  result: string;
  detail: string;
}

/** Per service: the release that serves, the rollout in charge, and the router port kept across restarts. */
export interface DeployServiceTable {
  environment: string;
  service: string;
  current_release: string | null;
  previous_release: string | null;
  rollout_id: string | null;
  router_port: number | null;
  updated_at: string;
}

/** Operator commands (pause, resume, abort, promote) waiting for the reconciler, from any server. */
export interface DeployCommandTable {
  id: Generated<number>;
  rollout_id: string;
  command: string;
  actor: string;
  at: string;
  consumed_at: string | null;
}

/** A drifted instance: what was found, and what was done about it. */
export interface DeployDriftTable {
  id: string;
  environment: string;
  service: string;
  instance: string;
  release: string;
  findings: string;
  action: string;
  at: string;
  log_id: number;
}

/** One reconciler at a time: the holder renews its lease; another takes over once it expires. */
export interface DeployLeaseTable {
  name: string;
  holder: string;
  expires_at: string;
}

export interface DeployTables {
  deploy_environments: DeployEnvironmentTable;
  deploy_environment_deletions: DeployEnvironmentDeletionTable;
  deploy_releases: DeployReleaseTable;
  deploy_rollouts: DeployRolloutTable;
  deploy_steps: DeployStepTable;
  deploy_services: DeployServiceTable;
  deploy_commands: DeployCommandTable;
  deploy_drift: DeployDriftTable;
  deploy_leases: DeployLeaseTable;
}
