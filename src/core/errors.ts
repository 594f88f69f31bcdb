/** Base of every room's error: a string-literal `code` callers branch on, and the `cause` it came from. */
export class BaseError<Code extends string> extends Error {
  readonly code: Code;
  readonly detail: unknown;

  constructor(code: Code, message: string, options: { cause?: unknown; detail?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.detail = options.detail;
  }
}

/** Narrows `err` to a BaseError carrying one of `codes` (any code when none are given). */
export function isErrorWithCode<Code extends string>(err: unknown, ...codes: Code[]): err is BaseError<Code> {
  return err instanceof BaseError && (codes.length === 0 || codes.includes(err.code as Code));
}
