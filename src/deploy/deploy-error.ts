import { BaseError } from '../core/index.ts';

export type DeployErrorCode =
  /** The environment spec is invalid; `issues` has one line per problem, each with its key path. */
  | 'SPEC_INVALID'
  /** No environment of that name has been applied. */
  | 'ENV_UNKNOWN'
  /** The environment has no service of that name. */
  | 'SERVICE_UNKNOWN'
  /** The release's image digest was never promoted into the environment's stage. */
  | 'NOT_PROMOTED'
  /** The image digest is vetoed and may not be deployed. */
  | 'VETOED'
  /** Another rollout of the same service is in progress. */
  | 'ROLLOUT_CONFLICT'
  /** The environment has a rollout in progress, so it is not deleted unless forced. */
  | 'ROLLOUT_IN_PROGRESS'
  /** The environment was deleted and its services are still being removed; applying it again must wait. */
  | 'ENV_DELETING'
  /** No rollout of that id, or none in progress for that service. */
  | 'ROLLOUT_UNKNOWN'
  /** A rollback was asked for but the service has never run an earlier release. */
  | 'NO_PREVIOUS_RELEASE'
  /** This reconciler no longer holds the lease on the environment; another one took over. */
  | 'LEASE_LOST';

/** An error of the deploy room; `issues` lists every problem found, not only the first. */
export class DeployError extends BaseError<DeployErrorCode> {
  readonly issues: readonly string[];

  constructor(code: DeployErrorCode, message: string, options: { cause?: unknown; issues?: readonly string[] } = {}) {
    const issues = options.issues ?? [];
    super(code, message, { cause: options.cause, detail: { issues } });
    this.issues = issues;
  }
}
