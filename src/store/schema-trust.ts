/** Public keys registered per role; a key row is never deleted or changed. */
export interface TrustKeyTable {
  key_id: string;
  role: string;
  name: string;
  algorithm: string;
  public_key_pem: string;
  valid_from: string;
  valid_until: string | null;
  registered_by: string;
  registered_at: string;
}

/** Revocations: append-only events, one per key; a signature logged before `revoked_at` stays valid. */
export interface TrustRevocationTable {
  key_id: string;
  /** From when the key's signatures stop counting; may be earlier than `recorded_at` (a key found compromised). */
  revoked_at: string;
  reason: string;
  revoked_by: string;
  recorded_at: string;
}

/** Tables of the trust store (migration 0002). */
export interface TrustTables {
  trust_keys: TrustKeyTable;
  trust_revocations: TrustRevocationTable;
}
