import { BaseError } from '../core/index.ts';

export type ReleaseErrorCode =
  /** The pipeline definition is invalid; `issues` has one line per problem, each with its key path. */
  | 'PIPELINE_INVALID'
  /** A time window's rrule, duration or time zone cannot be used. */
  | 'WINDOW_INVALID'
  /** No pipeline has been applied yet. */
  | 'PIPELINE_UNSET'
  /** The current pipeline has no stage of that name. */
  | 'STAGE_UNKNOWN'
  /** The repository holds no manifest with that digest. */
  | 'ARTIFACT_UNKNOWN'
  /** Only an admin may do this: enable automatic promotion into a stage, lift a veto. */
  | 'ADMIN_REQUIRED'
  /** Separation of duties: the author of a build may not approve it. */
  | 'APPROVAL_REFUSED'
  /** Lifting a veto that is not in force. */
  | 'NOT_VETOED'
  /** Releasing a hold that is not in force. */
  | 'NOT_HELD'
  /** A manual promotion into a protected stage came without a reason. */
  | 'REASON_REQUIRED';

/** An error of the release room; `issues` lists every problem found, not only the first. */
export class ReleaseError extends BaseError<ReleaseErrorCode> {
  readonly issues: readonly string[];

  constructor(code: ReleaseErrorCode, message: string, options: { cause?: unknown; issues?: readonly string[] } = {}) {
    const issues = options.issues ?? [];
    super(code, message, { cause: options.cause, detail: { issues } });
    this.issues = issues;
  }
}
