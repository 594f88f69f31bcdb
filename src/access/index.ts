export type { AccessErrorCode } from './access-error.ts';
export { AccessError } from './access-error.ts';
export type { Grant, RepositoryAction, Scope } from './scopes.ts';
export { compileGrant, isScope, SCOPES } from './scopes.ts';
export type { Access, AccessOptions, CreatedToken, Identity } from './tokens.ts';
export { createAccess } from './tokens.ts';
