// Shared by the release suites: a real database (per engine), registry metadata and blob store, ledger and
// trust store, a release service on a manual clock, and helpers that push images and sign or attest them
// for real (bundles recorded in the ledger exactly as POST /api/v1/signatures records them).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes, createManualClock, type Digest, digestOf, type Signer } from '../src/core/index.ts';
import { createLedger, type Ledger } from '../src/ledger/index.ts';
import { createReleaseService, type ReleaseDeps, type ReleaseService } from '../src/release/index.ts';
import {
  type BlobStore,
  createFsBlobStore,
  createRegistryMetadata,
  type RegistryMetadata,
  type StoreDatabase,
} from '../src/store/index.ts';
import {
  BUNDLE_MEDIA_TYPE,
  bundleReferrer,
  createBundle,
  createStatement,
  createTrustStore,
  dsseBody,
  generateKeyPair,
  hashedrekordBody,
  IN_TOTO_PAYLOAD_TYPE,
  loadSigner,
  loggedTlogEntry,
  type SigstoreBundle,
  signEnvelope,
  type TrustStore,
} from '../src/trust/index.ts';
import type { TestDatabase } from './support/databases.ts';

/** Wednesday 2026-03-04 10:00 UTC: 11:00 in Berlin, inside weekday office hours. */
export const T0 = new Date('2026-03-04T10:00:00.000Z');
export const HOUR = 3_600_000;
export const REGISTRY_HOST = 'registry.test:7070';

export interface TestKey {
  signer: Signer;
  publicKeyPem: string;
}

export interface ReleaseKit {
  database: StoreDatabase;
  metadata: RegistryMetadata;
  blobs: BlobStore;
  ledger: Ledger;
  trust: TrustStore;
  clock: ReturnType<typeof createManualClock>;
  /** The server's ledger key, which also signs VSAs. */
  ledgerSigner: Signer;
  deps: ReleaseDeps;
  release: ReleaseService;
  /** A key registered in the trust store with the `signer` role. */
  ci: TestKey;
  newKey(): TestKey;
  /** Uploads `bytes` as a blob of `repo` through the blob store, as a push does; returns its digest. */
  storeBlob(repo: string, bytes: Uint8Array): Promise<Digest>;
  pushImage(
    repo: string,
    options?: { actor?: string; tag?: string; annotations?: Record<string, string> },
  ): Promise<Digest>;
  /** A message-signature bundle over the manifest, logged, attached as a referrer; returns the bundle too. */
  sign(repo: string, digest: Digest, key?: TestKey): Promise<{ referrer: Digest; bundle: SigstoreBundle }>;
  attest(repo: string, digest: Digest, predicateType: string, predicate: object, key?: TestKey): Promise<Digest>;
  /** Attaches an already made bundle as a referrer. */
  attach(repo: string, digest: Digest, bundle: SigstoreBundle): Promise<Digest>;
  close(): Promise<void>;
}

let images = 0;
const pem = (s: Signer) => s.publicKey.export({ type: 'spki', format: 'pem' }).toString();

export async function openReleaseKit(engine: TestDatabase): Promise<ReleaseKit> {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-release-'));
  const clock = createManualClock(T0);
  const database = await engine.open();
  const blobs = await createFsBlobStore(dir);
  const metadata = createRegistryMetadata(database, { clock, isImmutable: () => false });
  const ledgerSigner = loadSigner(generateKeyPair('p256').privateKeyPem);
  const ledger = await createLedger({ database, signer: ledgerSigner, origin: 'fixity.test/ledger', clock });
  const trust = createTrustStore(database, clock);
  const newKey = (): TestKey => {
    const signer = loadSigner(generateKeyPair('p256').privateKeyPem);
    return { signer, publicKeyPem: pem(signer) };
  };
  const ci = newKey();
  await trust.register({ name: 'ci', role: 'signer', publicKeyPem: ci.publicKeyPem, registeredBy: 'admin' });
  const deps: ReleaseDeps = {
    database,
    metadata,
    blobs,
    ledger,
    trust,
    signer: ledgerSigner,
    verifierId: `https://fixity.test/verifier/${ledgerSigner.keyId.slice(0, 16)}`,
    registryHost: REGISTRY_HOST,
    clock,
  };

  const storeBlob = async (repo: string, bytes: Uint8Array): Promise<Digest> => {
    const digest = digestOf(bytes);
    const id = await blobs.uploads.create();
    await blobs.uploads.append(
      id,
      0,
      (async function* () {
        yield bytes;
      })(),
    );
    await blobs.uploads.finish(id, digest, (size) => metadata.linkBlob(repo, digest, size));
    return digest;
  };

  // Logs a leaf and shapes the bundle's tlog entry, as the server's /signatures route does.
  const record = async (leaf: object, digest: Digest, kind: 'hashedrekord' | 'dsse') => {
    const body = canonicalBytes(leaf);
    const [appended] = await ledger.append([{ body, digests: [digest] }]);
    const integratedTime = Math.floor(clock.now().getTime() / 1000);
    return loggedTlogEntry({
      ledgerSigner,
      logIndex: appended!.index,
      kind,
      body,
      integratedTime,
      proof: await ledger.inclusionProof(appended!.index),
    });
  };
  const common = (repo: string, digest: Digest, key: TestKey) => ({
    actor: 'ci',
    time: clock.now().toISOString(),
    repository: repo,
    digests: [digest],
    keyId: key.signer.keyId,
  });

  const kit: ReleaseKit = {
    database,
    metadata,
    blobs,
    ledger,
    trust,
    clock,
    ledgerSigner,
    deps,
    release: createReleaseService(deps),
    ci,
    newKey,
    storeBlob,
    async pushImage(repo, options = {}) {
      images += 1;
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: '2026-03-01T12:00:00Z',
          config: { Labels: { n: String(images) } },
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      );
      const configDigest = await storeBlob(repo, config);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [],
          ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
        }),
      );
      const digest = digestOf(manifest);
      await metadata.putManifest({
        repo,
        digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        content: manifest,
        artifactType: null,
        subject: null,
        annotations: options.annotations ?? null,
        blobs: [configDigest],
        children: [],
        tags: options.tag === undefined ? [] : [options.tag],
        actor: options.actor ?? 'dave',
      });
      return digest;
    },
    async sign(repo, digest, key = ci) {
      const manifest = (await metadata.getManifest(repo, { digest }))!.content;
      const signature = await key.signer.sign(manifest);
      const hex = createHash('sha256').update(manifest).digest('hex');
      const leaf = {
        ...hashedrekordBody({ digestHex: hex, signature, publicKeyPem: key.publicKeyPem }),
        event: 'signature',
        format: 'sigstore-bundle',
        ...common(repo, digest, key),
      };
      const bundle = createBundle({
        keyId: key.signer.keyId,
        content: { kind: 'message-signature', digest, signature },
        tlogEntries: [await record(leaf, digest, 'hashedrekord')],
      });
      return { referrer: await kit.attach(repo, digest, bundle), bundle };
    },
    async attest(repo, digest, predicateType, predicate, key = ci) {
      const statement = createStatement({ name: `${REGISTRY_HOST}/${repo}`, digest }, predicateType, predicate);
      const envelope = await signEnvelope(key.signer, IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement));
      const leaf = {
        ...dsseBody({ envelope, publicKeyPem: key.publicKeyPem }),
        event: 'attestation',
        predicateType,
        ...common(repo, digest, key),
      };
      const bundle = createBundle({
        keyId: key.signer.keyId,
        content: { kind: 'dsse', envelope },
        tlogEntries: [await record(leaf, digest, 'dsse')],
      });
      return kit.attach(repo, digest, bundle);
    },
    async attach(repo, digest, bundle) {
      const image = (await metadata.getManifest(repo, { digest }))!;
      const subject = { mediaType: image.mediaType, digest, size: image.size };
      const artifact = bundleReferrer(bundle, subject, clock.now());
      for (const blob of artifact.blobs) await storeBlob(repo, blob.bytes);
      const referrer = digestOf(artifact.manifest);
      await metadata.putManifest({
        repo,
        digest: referrer,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        content: artifact.manifest,
        artifactType: BUNDLE_MEDIA_TYPE,
        subject: digest,
        annotations: artifact.annotations,
        blobs: artifact.blobs.map((b) => b.digest),
        children: [],
        tags: [],
        actor: 'ci',
      });
      return referrer;
    },
    async close() {
      await ledger.close();
      await database.close();
      await engine.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return kit;
}

/** The pipeline most suites use: build → test, perf → staging (fan-in, soak) → production (approvals, window). */
export const PIPELINE = `
name: shop
stages:
  - name: build
  - name: test
    from: [build]
    gates:
      - name: signed
        expression: "signatures.exists(s, s.verified && s.role == 'signer')"
      - name: built-by-fixity
        expression: "provenance != null && provenance.builderId == 'https://fixity.dev/builders/v1'"
  - name: perf
    from: [build]
  - name: staging
    from: [test, perf]
    require: all
    soak: 1h
    gates:
      - name: no-critical
        expression: "vulnerabilities != null && vulnerabilities.critical == 0"
  - name: production
    from: [staging]
    approvals:
      count: 2
    windows:
      - kind: allow
        rrule: FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9
        duration: 8h
        timezone: Europe/Berlin
`;
