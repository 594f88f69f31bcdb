import type { Clock, SignatureAlgorithm } from '../core/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { algorithmOf, keyIdOf, loadPublicKey } from './keys.ts';
import { TrustError } from './trust-error.ts';

export const KEY_ROLES = ['builder', 'signer', 'approver', 'licensor'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

/** One role registration of a public key, with its validity window and revocation (times as ISO 8601 UTC). */
export interface KeyRecord {
  keyId: string;
  name: string;
  role: KeyRole;
  algorithm: SignatureAlgorithm;
  publicKeyPem: string;
  validFrom: string;
  validUntil: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  registeredBy: string;
  registeredAt: string;
}

/** Whether a key counted for a role at a given time; `unknown` when it never held the role. */
export type KeyValidity =
  | { status: 'valid' | 'not-yet-valid' | 'expired' | 'revoked'; key: KeyRecord }
  | { status: 'unknown' };

/**
 * The server's trust store: public keys registered per role with validity windows. Rows are never changed or
 * deleted (the tables are append-only); revocation is an event with the time from which the key stops
 * counting, so a signature the ledger recorded before it stays valid.
 */
export function createTrustStore(database: StoreDatabase, clock: Clock) {
  const { db } = database;
  const select = () =>
    db
      .selectFrom('trust_keys as k')
      .leftJoin('trust_revocations as r', 'r.key_id', 'k.key_id')
      .select([
        'k.key_id',
        'k.role',
        'k.name',
        'k.algorithm',
        'k.public_key_pem',
        'k.valid_from',
        'k.valid_until',
        'k.registered_by',
        'k.registered_at',
        'r.revoked_at',
        'r.reason',
      ]);
  type Row = Awaited<ReturnType<ReturnType<typeof select>['execute']>>[number];
  const toRecord = (r: Row): KeyRecord => ({
    keyId: r.key_id,
    name: r.name,
    role: r.role as KeyRole,
    algorithm: r.algorithm as SignatureAlgorithm,
    publicKeyPem: r.public_key_pem,
    validFrom: r.valid_from,
    validUntil: r.valid_until,
    revokedAt: r.revoked_at ?? null,
    revocationReason: r.reason ?? null,
    registeredBy: r.registered_by,
    registeredAt: r.registered_at,
  });
  const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

  const store = {
    /** Registers a public key for a role; one key may hold several roles, each registered once. */
    async register(input: {
      name: string;
      role: KeyRole;
      publicKeyPem: string;
      registeredBy: string;
      validFrom?: Date;
      validUntil?: Date;
    }): Promise<KeyRecord> {
      if (!(KEY_ROLES as readonly string[]).includes(input.role)) {
        throw new TrustError('KEY_INVALID', `Cannot register the key: role must be one of ${KEY_ROLES.join(', ')}`);
      }
      const key = loadPublicKey(input.publicKeyPem);
      const keyId = keyIdOf(key);
      const now = clock.now();
      const validFrom = input.validFrom ?? now;
      if (Number.isNaN(validFrom.getTime()) || (input.validUntil !== undefined && !(input.validUntil > validFrom))) {
        throw new TrustError(
          'VALIDITY_INVALID',
          'Cannot register the key: valid-until must be a time after valid-from',
        );
      }
      const refuse = async () => {
        const existing = await store.get(keyId);
        if (existing.some((k) => k.revokedAt !== null))
          return new TrustError('KEY_REVOKED', `Cannot register key ${short(keyId)}: it was revoked`);
        if (existing.some((k) => k.role === input.role))
          return new TrustError(
            'KEY_EXISTS',
            `Cannot register key ${short(keyId)}: it already has the ${input.role} role`,
          );
        return null;
      };
      const refused = await refuse();
      if (refused !== null) throw refused;
      try {
        await db
          .insertInto('trust_keys')
          .values({
            key_id: keyId,
            role: input.role,
            name: input.name,
            algorithm: algorithmOf(key),
            public_key_pem: key.export({ type: 'spki', format: 'pem' }).toString(),
            valid_from: validFrom.toISOString(),
            valid_until: input.validUntil?.toISOString() ?? null,
            registered_by: input.registeredBy,
            registered_at: now.toISOString(),
          })
          .execute();
      } catch (err) {
        throw (await refuse()) ?? err; // a concurrent registration of the same key and role won the race
      }
      await database.durable();
      return (await store.get(keyId)).find((k) => k.role === input.role)!;
    },

    /**
     * Revokes a key in every role from `at` (default now; earlier when it was compromised before it was found
     * out, never in the future). Signatures logged before `at` stay valid.
     */
    async revoke(input: { keyId: string; reason: string; revokedBy: string; at?: Date }): Promise<KeyRecord> {
      const now = clock.now();
      const at = input.at ?? now;
      if (Number.isNaN(at.getTime()) || at > now) {
        throw new TrustError(
          'VALIDITY_INVALID',
          `Cannot revoke key ${short(input.keyId)}: the time must not be in the future`,
        );
      }
      const refuse = async () => {
        const existing = await store.get(input.keyId);
        if (existing.length === 0)
          return new TrustError('KEY_UNKNOWN', `Cannot revoke key ${short(input.keyId)}: no such key`);
        if (existing[0]!.revokedAt !== null)
          return new TrustError(
            'KEY_REVOKED',
            `Cannot revoke key ${short(input.keyId)}: revoked already at ${existing[0]!.revokedAt}`,
          );
        return null;
      };
      const refused = await refuse();
      if (refused !== null) throw refused;
      try {
        await db
          .insertInto('trust_revocations')
          .values({
            key_id: input.keyId,
            revoked_at: at.toISOString(),
            reason: input.reason,
            revoked_by: input.revokedBy,
            recorded_at: now.toISOString(),
          })
          .execute();
      } catch (err) {
        throw (await refuse()) ?? err;
      }
      await database.durable();
      return (await store.get(input.keyId))[0]!;
    },

    /** Every role registration of one key (empty when unknown). */
    async get(keyId: string): Promise<KeyRecord[]> {
      return (await select().where('k.key_id', '=', keyId).orderBy('k.role').execute()).map(toRecord);
    },

    async list(filter: { role?: KeyRole } = {}): Promise<KeyRecord[]> {
      let q = select();
      if (filter.role !== undefined) q = q.where('k.role', '=', filter.role);
      return (await q.orderBy('k.registered_at').orderBy('k.key_id').orderBy('k.role').execute()).map(toRecord);
    },

    /** Did the key count for `role` at `time`, e.g. when the ledger recorded a signature it made? */
    async validAt(keyId: string, role: KeyRole, time: Date): Promise<KeyValidity> {
      const key = (await store.get(keyId)).find((k) => k.role === role);
      if (key === undefined) return { status: 'unknown' };
      const t = time.getTime();
      if (t < Date.parse(key.validFrom)) return { status: 'not-yet-valid', key };
      if (key.validUntil !== null && t >= Date.parse(key.validUntil)) return { status: 'expired', key };
      if (key.revokedAt !== null && t >= Date.parse(key.revokedAt)) return { status: 'revoked', key };
      return { status: 'valid', key };
    },
  };
  return store;
}

export type TrustStore = ReturnType<typeof createTrustStore>;
