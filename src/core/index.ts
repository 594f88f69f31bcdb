export { actorPrincipal } from './actor.ts';
export { ALIAS_WORDS, aliasOf, prefixOfAlias } from './alias.ts';
export { canonicalBytes, canonicalJSON } from './canonical-json.ts';
export type { Clock } from './clock.ts';
export { createManualClock, systemClock } from './clock.ts';
export type { Digest, DigestAlgorithm, DigestErrorCode, Digester } from './digest.ts';
export {
  assertDigest,
  createDigester,
  DIGEST_ALGORITHMS,
  DigestError,
  digestOf,
  isAlgorithm,
  isDigest,
  parseDigest,
  verifyDigest,
} from './digest.ts';
export { durationMs } from './duration.ts';
export { BaseError, isErrorWithCode } from './errors.ts';
export { globToRegExp } from './glob.ts';
export { newId } from './ids.ts';
export { processAlive } from './process-alive.ts';
export type { ProvisioningClaims, ProvisioningKeyErrorCode } from './provisioning-key.ts';
export {
  ProvisioningKeyError,
  readProvisioningClaims,
  signProvisioningKey,
  verifyProvisioningKey,
} from './provisioning-key.ts';
export type { SignatureAlgorithm, Signer } from './signer.ts';
export { describeSpecIssue, formatKeyPath } from './spec-issues.ts';
