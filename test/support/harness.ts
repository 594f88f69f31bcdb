// Builds the whole server in process (no socket) on a test database and a temp data dir, the way
// src/main.ts wires it, so suites exercise the real app through Fastify's inject().
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type Access, createAccess, type Scope } from '../../src/access/index.ts';
import { type Clock, createManualClock, systemClock } from '../../src/core/index.ts';
import { createLedger, type Ledger } from '../../src/ledger/index.ts';
import { startLedgerFeeder } from '../../src/main.ts';
import { createTagProtection, type ImmutabilityRule } from '../../src/registry/index.ts';
import { createReleaseService } from '../../src/release/index.ts';
import { createApp } from '../../src/server/index.ts';
import {
  type BlobStore,
  createFsBlobStore,
  createRegistryMetadata,
  createTokenRecords,
  type RegistryMetadata,
  type StoreDatabase,
} from '../../src/store/index.ts';
import { createTrustStore, generateKeyPair, loadSigner } from '../../src/trust/index.ts';
import type { TestDatabase } from './databases.ts';

export interface Harness {
  app: FastifyInstance;
  store: StoreDatabase;
  metadata: RegistryMetadata;
  blobs: BlobStore;
  access: Access;
  ledger: Ledger;
  dataDir: string;
  /** An admin token secret. */
  adminToken: string;
  /** `Authorization` header value (Basic) for a token secret; the admin token by default. */
  auth(secret?: string): string;
  /** Creates a token with the given grant and returns its secret. */
  token(scopes: Scope[], repos?: string[]): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  immutable?: ImmutabilityRule[];
  anonymousPull?: string[];
  maxManifestBytes?: number;
  clock?: Clock;
}

export async function createHarness(database: TestDatabase, options: HarnessOptions = {}): Promise<Harness> {
  const { immutable = [], anonymousPull = [], maxManifestBytes = 4 * 1024 * 1024, clock = systemClock } = options;
  const dataDir = await mkdtemp(join(tmpdir(), 'fixity-test-'));
  const store = await database.open();
  const blobs = await createFsBlobStore(dataDir);
  const metadata = createRegistryMetadata(store, { clock, isImmutable: createTagProtection(immutable) });
  const access = createAccess({
    records: createTokenRecords(store),
    clock,
    signingKey: Buffer.alloc(32, 7),
    anonymousPull,
  });
  const ledgerSigner = loadSigner(generateKeyPair('p256').privateKeyPem);
  const ledgerOrigin = `fixity.test/ledger/${ledgerSigner.keyId.slice(0, 16)}`;
  const ledger = await createLedger({ database: store, signer: ledgerSigner, origin: ledgerOrigin, clock });
  const feeder = startLedgerFeeder(ledger, pino({ level: 'silent' }));
  const trust = createTrustStore(store, clock);
  const release = createReleaseService({
    database: store,
    metadata,
    blobs,
    ledger,
    trust,
    signer: ledgerSigner,
    verifierId: 'https://fixity.test/verifier',
    registryHost: 'fixity.test',
    clock,
  });
  const app = await createApp({
    store,
    metadata,
    blobs,
    access,
    clock,
    logger: pino({ level: 'silent' }),
    version: 'test',
    maxManifestBytes,
    gc: { graceMs: 3600_000, uploadExpiryMs: 86_400_000 },
    ledger,
    ledgerSigner,
    ledgerOrigin,
    ledgerPublicKeyPem: ledgerSigner.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    trust,
    release,
    onRegistryChange: () => feeder.wake(),
  });
  await app.ready();
  const admin = await access.createToken({ name: 'admin', scopes: ['admin'], repos: ['**'] }, 'test');
  const auth = (secret = admin.secret) => `Basic ${Buffer.from(`test:${secret}`).toString('base64')}`;
  return {
    app,
    store,
    metadata,
    blobs,
    access,
    ledger,
    dataDir,
    adminToken: admin.secret,
    auth,
    token: async (scopes, repos = ['**']) =>
      (await access.createToken({ name: `t-${scopes.join('-')}`, scopes, repos }, 'test')).secret,
    async close() {
      await app.close();
      await feeder.stop();
      await ledger.close();
      await store.close();
      await database.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export { createManualClock };
