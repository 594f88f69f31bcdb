// Shared by the suites that drive the deploy room in process: the release kit's real database, ledger and
// registry store, examples/hello pushed and promoted to `staging`, the local driver (no sandbox) starting it
// from the store, real routers on free ports, and the deploy service, whose reconciler runs only when asked.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Digest, digestOf, verifyProvisioningKey } from '../src/core/index.ts';
import { createDeployService, createStoreImageSource, type DeployService } from '../src/deploy/index.ts';
import { createLocalDriver, createRouter, type RuntimeDriver } from '../src/runtime/index.ts';
import { helloImage } from '../src/runtime/test-image.ts';
import { openReleaseKit, type ReleaseKit } from './release-kit.ts';
import type { TestDatabase } from './support/databases.ts';

const PIPELINE = 'name: hello\nstages:\n  - name: build\n  - name: staging\n    from: [build]\n';

export interface DeployRoom {
  kit: ReleaseKit;
  driver: RuntimeDriver;
  deploy: DeployService;
  /** examples/hello's manifest digest in repository `hello`, promoted through `build` to `staging`. */
  hello: Digest;
  /**
   * Reconcile passes until `check` holds; fails with `what` and the instances after `ms`. It first moves the
   * manual clock on by a second, so rollouts started after it sort after those started before.
   */
  until(what: string, check: () => boolean | Promise<boolean>, ms?: number): Promise<void>;
  /** Stops every instance and router, then closes the store. */
  close(): Promise<void>;
}

/** An environment spec with one service per name, each running `replicas` of examples/hello. */
export function helloEnvironment(o: { name?: string; digest: string; services: string[]; replicas?: number }) {
  const services = o.services.map(
    (s) => `  - name: ${s}
    image: { repository: hello, digest: "${o.digest}" }
    replicas: ${o.replicas ?? 1}
    env: { GREETING: "${s}" }
    health:
      readiness: { path: /healthz, intervalMs: 100, timeoutMs: 1000, failureThreshold: 2 }
      startupTimeoutMs: 20000
`,
  );
  return `apiVersion: fixity.dev/v1\nkind: Environment\nname: ${o.name ?? 'staging'}\nstage: staging\nservices:${services.length === 0 ? ' []\n' : `\n${services.join('')}`}`;
}

export async function openDeployRoom(engine: TestDatabase): Promise<DeployRoom> {
  const kit = await openReleaseKit(engine);
  const stateDir = await mkdtemp(join(tmpdir(), 'fixity-deploy-room-'));
  const { database, blobs, metadata, clock, ledgerSigner } = kit;
  const store = (bytes: Buffer) => kit.storeBlob('hello', bytes);
  const image = await helloImage();
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: image.config }));
  const layers = [];
  for (const l of image.layers)
    layers.push({ mediaType: l.mediaType, digest: await store(l.bytes), size: l.bytes.length });
  const configDigest = await store(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers,
    }),
  );
  const hello = digestOf(manifest);
  await metadata.putManifest({
    repo: 'hello',
    digest: hello,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    content: manifest,
    artifactType: null,
    subject: null,
    annotations: null,
    blobs: [configDigest, ...layers.map((l) => l.digest)],
    children: [],
    tags: ['1.0.0'],
    actor: 'ci',
  });
  await kit.release.applyPipeline(PIPELINE, { actor: 'alice', admin: false });
  for (const stage of ['build', 'staging']) {
    const done = await kit.release.promote({
      repository: 'hello',
      digest: hello,
      stage,
      actor: 'alice',
      trigger: 'manual',
    });
    assert.equal(done.kind, 'promoted', `promote to ${stage}`);
  }

  const driver = await createLocalDriver({
    stateDir,
    images: createStoreImageSource(database, blobs),
    clock,
    sandbox: 'none',
    verifyKey: (token, expect) => {
      const claims = verifyProvisioningKey(token, ledgerSigner.publicKey, expect, clock.now());
      return { nonce: claims.nonce, quota: claims.quota };
    },
  });
  const deploy = createDeployService({
    database,
    release: kit.release,
    driver,
    signer: ledgerSigner,
    clock,
    openRouter: async (environment, service) => {
      const router = createRouter({ environment, service, host: '127.0.0.1', port: 0 });
      await router.listen();
      return router;
    },
  });
  return {
    kit,
    driver,
    deploy,
    hello,
    async until(what, check, ms = 30_000) {
      clock.advance(1000);
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        await deploy.reconciler.reconcile();
        if (await check()) return;
        await sleep(100);
      }
      const instances = driver.list().map((i) => `${i.id} ${i.state} ${i.reason ?? ''}`);
      assert.fail(`${what} did not happen within ${ms} ms; instances:\n${instances.join('\n')}`);
    },
    async close() {
      await deploy.stop({ stopInstances: true });
      await kit.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
