// The trust store's contract, run against every engine testDatabases() offers (SQLite, PostgreSQL).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createManualClock } from '../src/core/index.ts';
import type { StoreDatabase } from '../src/store/index.ts';
import { createTrustStore, generateKeyPair, TrustError, type TrustStore } from '../src/trust/index.ts';
import { testDatabases } from './support/databases.ts';

const T0 = new Date('2026-03-01T00:00:00.000Z');
const hour = 3_600_000;
const at = (ms: number) => new Date(T0.getTime() + ms);
const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;

for (const engine of await testDatabases()) {
  describe(`trust store contract (${engine.name.replace('Database', '')})`, () => {
    const clock = createManualClock(T0);
    let handle: Awaited<ReturnType<typeof engine>>;
    let database: StoreDatabase;
    let trust: TrustStore;

    before(async () => {
      handle = await engine();
      database = await handle.open();
      trust = createTrustStore(database, clock);
    });

    after(async () => {
      await database?.close();
      await handle?.cleanup();
    });

    test('register() stores the key under its id with algorithm, window and who registered it', async () => {
      const pair = generateKeyPair('p256');
      const key = await trust.register({
        name: 'ci',
        role: 'signer',
        publicKeyPem: pair.publicKeyPem,
        registeredBy: 'admin',
      });
      assert.deepEqual(key, {
        keyId: pair.keyId,
        name: 'ci',
        role: 'signer',
        algorithm: 'ecdsa-p256-sha256',
        publicKeyPem: pair.publicKeyPem,
        validFrom: T0.toISOString(),
        validUntil: null,
        revokedAt: null,
        revocationReason: null,
        registeredBy: 'admin',
        registeredAt: T0.toISOString(),
      });
      assert.deepEqual(await trust.get(pair.keyId), [key]);
      assert.ok((await trust.list({ role: 'signer' })).some((k) => k.keyId === pair.keyId));
      assert.ok(!(await trust.list({ role: 'approver' })).some((k) => k.keyId === pair.keyId));
    });

    test('register() lets one key hold several roles, each once, and refuses bad keys and windows', async () => {
      const pair = generateKeyPair('ed25519');
      const base = { name: 'builder-1', publicKeyPem: pair.publicKeyPem, registeredBy: 'admin' };
      await trust.register({ ...base, role: 'builder' });
      const approver = await trust.register({ ...base, role: 'approver', validUntil: at(hour) });
      assert.equal(approver.algorithm, 'ed25519');
      assert.deepEqual(
        (await trust.get(pair.keyId)).map((k) => k.role),
        ['approver', 'builder'],
      );
      await assert.rejects(trust.register({ ...base, role: 'builder' }), hasCode('KEY_EXISTS'));
      await assert.rejects(
        trust.register({ ...base, role: 'licensor', validFrom: at(hour), validUntil: at(hour) }),
        hasCode('VALIDITY_INVALID'),
      );
      await assert.rejects(trust.register({ ...base, role: 'signer', publicKeyPem: 'nope' }), hasCode('KEY_INVALID'));
      await assert.rejects(trust.register({ ...base, role: 'owner' as 'signer' }), hasCode('KEY_INVALID'));
    });

    test('concurrent registrations of one key and role: one wins, the other gets KEY_EXISTS', async () => {
      const pair = generateKeyPair('p256');
      const input = { name: 'race', role: 'signer' as const, publicKeyPem: pair.publicKeyPem, registeredBy: 'admin' };
      const results = await Promise.allSettled([trust.register(input), trust.register(input)]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.find((r) => r.status === 'rejected');
      assert.ok(hasCode('KEY_EXISTS')(rejected?.reason));
      assert.equal((await trust.get(pair.keyId)).length, 1);
    });

    test('validAt() reports not-yet-valid, valid, expired and unknown by the window', async () => {
      const pair = generateKeyPair('p256');
      await trust.register({
        name: 'windowed',
        role: 'licensor',
        publicKeyPem: pair.publicKeyPem,
        registeredBy: 'admin',
        validFrom: at(hour),
        validUntil: at(3 * hour),
      });
      assert.equal((await trust.validAt(pair.keyId, 'licensor', at(hour - 1))).status, 'not-yet-valid');
      assert.equal((await trust.validAt(pair.keyId, 'licensor', at(hour))).status, 'valid');
      assert.equal((await trust.validAt(pair.keyId, 'licensor', at(3 * hour - 1))).status, 'valid');
      assert.equal((await trust.validAt(pair.keyId, 'licensor', at(3 * hour))).status, 'expired');
      assert.equal((await trust.validAt(pair.keyId, 'signer', at(2 * hour))).status, 'unknown');
      assert.equal((await trust.validAt('0'.repeat(64), 'licensor', at(2 * hour))).status, 'unknown');
    });

    test('revoke() is an event: signatures logged before it stay valid, later ones do not, in every role', async () => {
      const pair = generateKeyPair('p256');
      for (const role of ['signer', 'builder'] as const) {
        await trust.register({ name: 'leaky', role, publicKeyPem: pair.publicKeyPem, registeredBy: 'admin' });
      }
      clock.set(at(10 * hour));
      const revoked = await trust.revoke({ keyId: pair.keyId, reason: 'laptop stolen', revokedBy: 'sec' });
      assert.equal(revoked.revokedAt, at(10 * hour).toISOString());
      assert.equal(revoked.revocationReason, 'laptop stolen');
      for (const role of ['signer', 'builder'] as const) {
        assert.equal((await trust.validAt(pair.keyId, role, at(10 * hour - 1))).status, 'valid');
        assert.equal((await trust.validAt(pair.keyId, role, at(10 * hour))).status, 'revoked');
      }
      await assert.rejects(
        trust.revoke({ keyId: pair.keyId, reason: 'again', revokedBy: 'sec' }),
        hasCode('KEY_REVOKED'),
      );
      await assert.rejects(
        trust.register({ name: 'back', role: 'approver', publicKeyPem: pair.publicKeyPem, registeredBy: 'admin' }),
        hasCode('KEY_REVOKED'),
      );
      await assert.rejects(
        trust.revoke({ keyId: 'f'.repeat(64), reason: '', revokedBy: 'sec' }),
        hasCode('KEY_UNKNOWN'),
      );
      assert.equal((await trust.get(pair.keyId)).length, 2, 'the key rows are still there');
    });

    test('revoke() can date the revocation back to the compromise, never into the future', async () => {
      clock.set(at(20 * hour));
      const pair = generateKeyPair('ed25519');
      await trust.register({
        name: 'old',
        role: 'signer',
        publicKeyPem: pair.publicKeyPem,
        registeredBy: 'admin',
        validFrom: T0,
      });
      await assert.rejects(
        trust.revoke({ keyId: pair.keyId, reason: 'later', revokedBy: 'sec', at: at(21 * hour) }),
        hasCode('VALIDITY_INVALID'),
      );
      await trust.revoke({ keyId: pair.keyId, reason: 'leaked last week', revokedBy: 'sec', at: at(5 * hour) });
      assert.equal((await trust.validAt(pair.keyId, 'signer', at(4 * hour))).status, 'valid');
      assert.equal((await trust.validAt(pair.keyId, 'signer', at(6 * hour))).status, 'revoked');
    });

    test('the database itself refuses to update or delete key and revocation rows', async () => {
      for (const table of ['trust_keys', 'trust_revocations']) {
        await assert.rejects(sql`delete from ${sql.table(table)}`.execute(database.db), /append-only/);
        await assert.rejects(sql`update ${sql.table(table)} set key_id = key_id`.execute(database.db), /append-only/);
      }
    });
  });
}
