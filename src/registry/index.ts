export type { Action, Authorize, Principal, RegistryOptions } from './context.ts';
export type { GarbageCollectionOptions, GarbageCollectionStep } from './gc.ts';
export { collectGarbage } from './gc.ts';
export type { ImmutabilityRule } from './immutability.ts';
export { createTagProtection, parseImmutabilityRule } from './immutability.ts';
export { assertRepositoryName, isTag } from './names.ts';
export type { RegistryErrorCode } from './registry-error.ts';
export { REGISTRY_STATUS, RegistryError } from './registry-error.ts';
export { registryRoutes } from './registry-routes.ts';
