import { BaseError } from '../core/index.ts';

export type OCIErrorCode = 'MANIFEST_INVALID' | 'DIGEST_INVALID' | 'UNSUPPORTED';

export class OCIError extends BaseError<OCIErrorCode> {}
