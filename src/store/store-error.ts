import { BaseError } from '../core/index.ts';

export type StoreErrorCode =
  | 'MIGRATION_FAILED'
  | 'CONFIG_INVALID'
  | 'UNAVAILABLE'
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_UNKNOWN'
  | 'TAG_IMMUTABLE'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'CONFLICT';

export class StoreError extends BaseError<StoreErrorCode> {}
