import type { KeyObject } from 'node:crypto';

/** The signature schemes Fixity signs with: ECDSA P-256 over SHA-256 (DER signatures, the default) and Ed25519. */
export type SignatureAlgorithm = 'ecdsa-p256-sha256' | 'ed25519';

/**
 * The one port every signature goes through (artifact signatures, DSSE envelopes, ledger checkpoints). A file
 * key implements it today; a KMS or HSM driver implements the same method without touching any caller.
 */
export interface Signer {
  /** Hex SHA-256 of the public key's SPKI DER. */
  readonly keyId: string;
  readonly algorithm: SignatureAlgorithm;
  readonly publicKey: KeyObject;
  /** Signs `data` (the message itself, not a digest); ECDSA signatures are ASN.1 DER. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}
