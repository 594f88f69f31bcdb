import { BaseError, DigestError } from '../core/index.ts';
import { OCIError } from '../oci/index.ts';
import { StoreError } from '../store/index.ts';

/** The distribution-spec error codes, plus RANGE_INVALID and MANIFEST_TOO_LARGE for their own statuses. */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'MANIFEST_TOO_LARGE'
  | 'UNAVAILABLE'
  | 'PAGINATION_NUMBER_INVALID';

export class RegistryError extends BaseError<RegistryErrorCode> {
  readonly headers: Record<string, string>;
  constructor(
    code: RegistryErrorCode,
    message: string,
    options: { cause?: unknown; detail?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(code, message, options);
    this.headers = options.headers ?? {};
  }
}

/** One table from code to HTTP status, and the code clients see in the body. */
export const REGISTRY_STATUS: Record<RegistryErrorCode, { status: number; wire: string }> = {
  BLOB_UNKNOWN: { status: 404, wire: 'BLOB_UNKNOWN' },
  BLOB_UPLOAD_INVALID: { status: 400, wire: 'BLOB_UPLOAD_INVALID' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, wire: 'BLOB_UPLOAD_UNKNOWN' },
  DIGEST_INVALID: { status: 400, wire: 'DIGEST_INVALID' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, wire: 'MANIFEST_BLOB_UNKNOWN' },
  MANIFEST_INVALID: { status: 400, wire: 'MANIFEST_INVALID' },
  MANIFEST_UNKNOWN: { status: 404, wire: 'MANIFEST_UNKNOWN' },
  NAME_INVALID: { status: 400, wire: 'NAME_INVALID' },
  NAME_UNKNOWN: { status: 404, wire: 'NAME_UNKNOWN' },
  SIZE_INVALID: { status: 400, wire: 'SIZE_INVALID' },
  UNAUTHORIZED: { status: 401, wire: 'UNAUTHORIZED' },
  DENIED: { status: 403, wire: 'DENIED' },
  UNSUPPORTED: { status: 405, wire: 'UNSUPPORTED' },
  TOOMANYREQUESTS: { status: 429, wire: 'TOOMANYREQUESTS' },
  RANGE_INVALID: { status: 416, wire: 'BLOB_UPLOAD_INVALID' },
  MANIFEST_TOO_LARGE: { status: 413, wire: 'SIZE_INVALID' },
  UNAVAILABLE: { status: 503, wire: 'UNAVAILABLE' },
  PAGINATION_NUMBER_INVALID: { status: 400, wire: 'PAGINATION_NUMBER_INVALID' },
};

/** Translates errors from lower rooms into registry errors, keeping the cause. */
export function toRegistryError(err: unknown): RegistryError | null {
  if (err instanceof RegistryError) return err;
  if (err instanceof StoreError) {
    switch (err.code) {
      case 'BLOB_UNKNOWN':
      case 'BLOB_UPLOAD_UNKNOWN':
      case 'MANIFEST_BLOB_UNKNOWN':
      case 'MANIFEST_UNKNOWN':
      case 'NAME_UNKNOWN':
      case 'SIZE_INVALID':
        return new RegistryError(err.code, err.message, { cause: err, detail: err.detail });
      case 'TAG_IMMUTABLE':
        return new RegistryError('DENIED', err.message, { cause: err, detail: { reason: 'immutable tag' } });
      case 'CONFLICT':
        return new RegistryError('RANGE_INVALID', err.message, { cause: err });
      case 'UNAVAILABLE':
        return new RegistryError('UNAVAILABLE', err.message, { cause: err });
      case 'MIGRATION_FAILED':
      case 'CONFIG_INVALID':
        return null;
    }
  }
  if (err instanceof DigestError) {
    return new RegistryError(err.code === 'DIGEST_UNSUPPORTED' ? 'UNSUPPORTED' : 'DIGEST_INVALID', err.message, {
      cause: err,
    });
  }
  if (err instanceof OCIError) return new RegistryError(err.code, err.message, { cause: err });
  if (err instanceof BaseError) return null;
  return null;
}
