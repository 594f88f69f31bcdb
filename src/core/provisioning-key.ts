import { createHash, type KeyObject, verify } from 'node:crypto';
import { canonicalBytes } from './canonical-json.ts';
import type { Digest } from './digest.ts';
import { isDigest } from './digest.ts';
import { BaseError } from './errors.ts';
import type { Signer } from './signer.ts';

/**
 * Provisioning keys tie infrastructure to one immutable artifact: a runtime driver creates no instance
 * without one. The server signs the claims; any driver holding the server's public key verifies them
 * offline, so a Kubernetes driver needs no secret. Wire format, JWS-like but canonical:
 *
 *   fpk1.<base64url(canonical JSON claims)>.<base64url(signature over "fpk1.<payload>")>
 *
 * The driver also keeps a book of nonces it has used: a key replayed for an instance it already created,
 * or used for more instances than its quota, is refused there (the key itself cannot know).
 */
export interface ProvisioningClaims {
  readonly v: 1;
  /** The signing key's id: hex SHA-256 of its SPKI DER. */
  readonly kid: string;
  readonly release: Digest;
  readonly environment: string;
  /** How many instances may be created with this key. */
  readonly quota: number;
  /** Issued and expiry times, Unix seconds. */
  readonly iat: number;
  readonly exp: number;
  readonly nonce: string;
}

export type ProvisioningKeyErrorCode =
  | 'KEY_MISSING'
  | 'KEY_MALFORMED'
  | 'KEY_FORGED'
  | 'KEY_EXPIRED'
  | 'KEY_WRONG_RELEASE'
  | 'KEY_WRONG_ENVIRONMENT';
export class ProvisioningKeyError extends BaseError<ProvisioningKeyErrorCode> {}

const PREFIX = 'fpk1';
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const spkiKeyId = (key: KeyObject) =>
  createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');

/** Signs the claims with the server's key; `kid` and `v` are filled in. */
export async function signProvisioningKey(
  signer: Signer,
  claims: Omit<ProvisioningClaims, 'v' | 'kid'>,
): Promise<string> {
  const payload = b64url(canonicalBytes({ ...claims, v: 1, kid: signer.keyId }));
  const signature = await signer.sign(Buffer.from(`${PREFIX}.${payload}`));
  return `${PREFIX}.${payload}.${b64url(signature)}`;
}

/** Reads the claims without checking anything; for display and for the driver's refusal records. */
export function readProvisioningClaims(token: string): ProvisioningClaims {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3 || parts[0] !== PREFIX)
    throw new ProvisioningKeyError('KEY_MALFORMED', 'Cannot read the provisioning key: expected fpk1.<claims>.<sig>');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new ProvisioningKeyError('KEY_MALFORMED', 'Cannot read the provisioning key: its claims are not JSON', {
      cause,
    });
  }
  const c = claims as Partial<ProvisioningClaims> | null;
  const ok =
    c !== null &&
    typeof c === 'object' &&
    c.v === 1 &&
    typeof c.kid === 'string' &&
    typeof c.release === 'string' &&
    isDigest(c.release) &&
    typeof c.environment === 'string' &&
    Number.isSafeInteger(c.quota) &&
    (c.quota as number) > 0 &&
    Number.isSafeInteger(c.iat) &&
    Number.isSafeInteger(c.exp) &&
    typeof c.nonce === 'string' &&
    c.nonce.length >= 16;
  if (!ok) throw new ProvisioningKeyError('KEY_MALFORMED', 'Cannot read the provisioning key: claims incomplete');
  return c as ProvisioningClaims;
}

/**
 * Verifies signature, expiry and binding; returns the claims. Every refusal says which check failed, never
 * echoing the key itself. `now` comes from the caller's clock.
 */
export function verifyProvisioningKey(
  token: string | undefined,
  publicKey: KeyObject,
  expect: { release: Digest; environment: string },
  now: Date,
): ProvisioningClaims {
  if (token === undefined || token === '')
    throw new ProvisioningKeyError('KEY_MISSING', 'Cannot create an instance without a provisioning key');
  const claims = readProvisioningClaims(token);
  const [prefix, payload, sig] = token.split('.') as [string, string, string];
  const algorithm = publicKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const signed =
    claims.kid === spkiKeyId(publicKey) &&
    verify(algorithm, Buffer.from(`${prefix}.${payload}`), publicKey, Buffer.from(sig, 'base64url'));
  if (!signed)
    throw new ProvisioningKeyError('KEY_FORGED', 'Cannot accept the provisioning key: not signed by this server');
  const seconds = Math.floor(now.getTime() / 1000);
  if (seconds >= claims.exp)
    throw new ProvisioningKeyError(
      'KEY_EXPIRED',
      `Cannot accept the provisioning key: it expired at ${new Date(claims.exp * 1000).toISOString()}`,
    );
  if (claims.release !== expect.release)
    throw new ProvisioningKeyError(
      'KEY_WRONG_RELEASE',
      `Cannot accept the provisioning key: it is bound to release ${claims.release}, not ${expect.release}`,
    );
  if (claims.environment !== expect.environment)
    throw new ProvisioningKeyError(
      'KEY_WRONG_ENVIRONMENT',
      `Cannot accept the provisioning key: it is bound to environment "${claims.environment}", not "${expect.environment}"`,
    );
  return claims;
}
