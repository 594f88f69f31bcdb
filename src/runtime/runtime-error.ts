import { BaseError } from '../core/index.ts';

export type RuntimeErrorCode =
  | 'KEY_REPLAYED'
  | 'KEY_QUOTA_EXCEEDED'
  | 'IMAGE_INVALID'
  | 'DIGEST_MISMATCH'
  | 'UNSAFE_PATH'
  | 'INSTANCE_UNKNOWN'
  | 'INSTANCE_EXISTS'
  | 'START_FAILED'
  | 'USER_UNKNOWN'
  | 'NOT_READY';

/** The runtime room's error: drivers refuse with one of these codes. */
export class RuntimeError extends BaseError<RuntimeErrorCode> {}
