// Shared by the ledger suites: a throwaway ledger key, ledger entries that mention their digests, and a
// ledger opened on each engine testDatabases() offers.
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { canonicalBytes, createManualClock, type Signer } from '../src/core/index.ts';
import { createLedger, type Ledger, type LedgerOptions } from '../src/ledger/storage.ts';
import type { StoreDatabase } from '../src/store/index.ts';
import type { TestDatabase } from './support/databases.ts';

export const ORIGIN = 'fixity.test/ledger';

/** An in-memory ECDSA P-256 signer, as the ledger key is by default. */
export function testSigner(): Signer & { privateKey: KeyObject; publicKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    keyId: createHash('sha256').update(der).digest('hex'),
    algorithm: 'ecdsa-p256-sha256',
    publicKey,
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: async (data) => sign('sha256', data, privateKey),
  };
}

/** A digest unique to `n` (and `salt`), as `sha256:<hex>`. */
export const digestFor = (n: number, salt = ''): string =>
  `sha256:${createHash('sha256').update(`${salt}${n}`).digest('hex')}`;

/** A ledger entry about `digestFor(n)`, canonical JSON like every leaf. */
export function entryFor(n: number, salt = ''): { body: Uint8Array; digests: string[] } {
  const digests = [digestFor(n, salt)];
  return {
    body: canonicalBytes({ event: 'test', actor: 'alice', time: '2025-01-01T00:00:00Z', digests, n }),
    digests,
  };
}

export interface OpenLedger {
  ledger: Ledger;
  store: StoreDatabase;
  signer: ReturnType<typeof testSigner>;
  /** Closes the ledger and the database (not the engine: the suite cleans that up). */
  close(): Promise<void>;
  /** Opens a second ledger on the same data (a restart). */
  reopen(options?: Partial<LedgerOptions>): Promise<OpenLedger>;
}

/** A ledger on `engine` with a fresh key. */
export async function openLedger(
  engine: TestDatabase,
  options: Partial<LedgerOptions> = {},
  signer = testSigner(),
): Promise<OpenLedger> {
  const store = await engine.open();
  const ledger = await createLedger({
    database: store,
    signer,
    origin: ORIGIN,
    clock: createManualClock('2025-01-01T00:00:00Z'),
    ...options,
  });
  return {
    ledger,
    store,
    signer,
    async close() {
      await ledger.close();
      await store.close();
    },
    reopen: (again = {}) => openLedger(engine, { ...options, ...again }, signer),
  };
}

/** Drops the ledger's append-only triggers, as an attacker with SQL access would before rewriting history. */
export async function dropLedgerGuards(store: StoreDatabase): Promise<void> {
  const { sql } = await import('kysely');
  const triggers =
    store.dialect === 'postgres'
      ? [
          ['ledger_leaves_append_only', 'ledger_leaves'],
          ['ledger_checkpoints_append_only', 'ledger_checkpoints'],
          ['ledger_digests_append_only', 'ledger_digests'],
          ['ledger_tiles_grow_only', 'ledger_tiles'],
        ]
      : ['leaves', 'checkpoints', 'digests']
          .flatMap((t) => [`ledger_${t}_no_update`, `ledger_${t}_no_delete`])
          .concat(['ledger_tiles_no_delete', 'ledger_tiles_grow_only'])
          .map((name) => [name, '']);
  for (const [name, table] of triggers) {
    const on = store.dialect === 'postgres' ? sql` on ${sql.table(table!)}` : sql``;
    await sql`drop trigger ${sql.id(name!)}${on}`.execute(store.db);
  }
}
