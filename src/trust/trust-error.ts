import { BaseError } from '../core/index.ts';

export type TrustErrorCode =
  | 'KEY_INVALID'
  | 'KEY_UNSUPPORTED'
  | 'KEY_FILE_EXISTS'
  | 'SIGNATURE_INVALID'
  | 'ENVELOPE_INVALID'
  | 'STATEMENT_INVALID'
  | 'BUNDLE_INVALID'
  | 'TLOG_ENTRY_INVALID'
  | 'SIGNATURE_MANIFEST_INVALID'
  | 'SUBJECT_MISMATCH'
  | 'KEY_EXISTS'
  | 'KEY_UNKNOWN'
  | 'KEY_REVOKED'
  | 'KEY_EXPIRED'
  | 'KEY_NOT_YET_VALID'
  | 'VALIDITY_INVALID';

/** Errors of the trust room: keys, envelopes, statements, bundles and the trust store. */
export class TrustError extends BaseError<TrustErrorCode> {}
