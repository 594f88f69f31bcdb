import { BaseError } from '../core/index.ts';

/** Every failure the ledger room reports; the storage side adds its codes here too. */
export type LedgerErrorCode =
  | 'HASH_INVALID'
  | 'TREE_SIZE_INVALID'
  | 'FRONTIER_INVALID'
  | 'PROOF_INVALID'
  | 'TILE_PATH_INVALID'
  | 'TILE_INVALID'
  | 'ENTRY_TOO_LARGE'
  | 'BUNDLE_INVALID'
  | 'NOTE_INVALID'
  | 'NOTE_UNVERIFIED'
  | 'NOTE_SIGNATURE_INVALID'
  | 'KEY_INVALID'
  | 'CHECKPOINT_INVALID'
  | 'ENTRY_INVALID'
  | 'INDEX_OUT_OF_RANGE'
  | 'CHECKPOINT_UNKNOWN'
  | 'STATE_INVALID'
  | 'CLOSED'
  | 'ARCHIVE_INVALID';

export class LedgerError extends BaseError<LedgerErrorCode> {}
