import { BaseError } from '../core/index.ts';

export type AccessErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'TOKEN_INVALID' | 'SCOPE_INVALID' | 'NOT_FOUND';

export class AccessError extends BaseError<AccessErrorCode> {}
