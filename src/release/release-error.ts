import { BaseError } from '../core/index.ts';

export type ReleaseErrorCode =
  /** The pipeline definition is invalid; `issues` has one line per problem, each with its key path. */
  | 'PIPELINE_INVALID'
  /** A time window's rrule, duration or time zone cannot be used. */
  | 'WINDOW_INVALID';

/** An error of the release room; `issues` lists every problem found, not only the first. */
export class ReleaseError extends BaseError<ReleaseErrorCode> {
  readonly issues: readonly string[];

  constructor(code: ReleaseErrorCode, message: string, options: { cause?: unknown; issues?: readonly string[] } = {}) {
    const issues = options.issues ?? [];
    super(code, message, { cause: options.cause, detail: { issues } });
    this.issues = issues;
  }
}
