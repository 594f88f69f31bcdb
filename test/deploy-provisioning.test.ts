// Provisioning keys end to end: keys the server signs (core/provisioning-key) presented to the local
// driver with the server's real verifier. Forged, expired, wrongly bound, replayed and over-quota keys
// start nothing, and every refusal reaches the onRefused hook the server records in its ledger.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  createManualClock,
  type Digest,
  digestOf,
  signProvisioningKey,
  verifyProvisioningKey,
} from '../src/core/index.ts';
import { createLocalDriver, type InstanceSpec } from '../src/runtime/index.ts';
import { createMemoryImages, helloImage } from '../src/runtime/test-image.ts';
import { generateKeyPair, loadSigner } from '../src/trust/index.ts';

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('provisioning keys at the local driver', () => {
  test('only a fresh key signed by this server, for this release and environment, within quota, starts an instance', async () => {
    const clock = createManualClock(new Date('2026-12-06T12:00:00Z'));
    const server = loadSigner(generateKeyPair('p256').privateKeyPem);
    const intruder = loadSigner(generateKeyPair('p256').privateKeyPem);
    const stateDir = await mkdtemp(join(tmpdir(), 'fixity-provisioning-'));
    dirs.push(stateDir);
    const mem = createMemoryImages();
    const hello = await helloImage();
    const image = mem.addImage(hello.layers, hello.config);
    const release = digestOf('release-1') as Digest;
    const refused: Array<{ id: string; code: string }> = [];
    const driver = await createLocalDriver({
      stateDir,
      images: mem.images,
      clock,
      sandbox: 'none',
      verifyKey: (token, expect) => {
        const claims = verifyProvisioningKey(token, server.publicKey, expect, clock.now());
        return { nonce: claims.nonce, quota: claims.quota };
      },
      onRefused: (spec, err) => refused.push({ id: spec.id, code: String((err as { code?: string }).code) }),
    });
    cleanups.push(() => driver.close());
    const now = Math.floor(clock.now().getTime() / 1000);
    const mint = (
      over: {
        signer?: typeof server;
        release?: Digest;
        environment?: string;
        exp?: number;
        quota?: number;
        nonce?: string;
      } = {},
    ) =>
      signProvisioningKey(over.signer ?? server, {
        release: over.release ?? release,
        environment: over.environment ?? 'staging',
        quota: over.quota ?? 2,
        iat: now,
        exp: over.exp ?? now + 600,
        nonce: over.nonce ?? `nonce-${Math.random().toString(16).slice(2)}-0000`,
      });
    const spec = (id: string, key: string): InstanceSpec => ({
      id,
      environment: 'staging',
      service: 'hello',
      release,
      image,
      configDigest: digestOf('config') as Digest,
      env: {},
      port: 8080,
      health: {
        readiness: { path: '/healthz', intervalMs: 50, timeoutMs: 500, failureThreshold: 3 },
        startupTimeoutMs: 10_000,
      },
      provisioningKey: key,
    });
    const refuses = async (id: string, key: string, code: string) => {
      const before = driver.list().length;
      await assert.rejects(driver.start(spec(id, key)), (err: { code?: string }) => err.code === code);
      assert.equal(driver.list().length, before, `${id}: nothing was created`);
      assert.deepEqual(refused.at(-1), { id, code });
    };

    await refuses('forged', await mint({ signer: intruder }), 'KEY_FORGED');
    await refuses('expired', await mint({ exp: now - 1 }), 'KEY_EXPIRED');
    await refuses('other-release', await mint({ release: digestOf('release-2') as Digest }), 'KEY_WRONG_RELEASE');
    await refuses('other-env', await mint({ environment: 'production' }), 'KEY_WRONG_ENVIRONMENT');
    await refuses('none', '', 'KEY_MISSING');

    const key = await mint({ quota: 2 });
    const first = await driver.start(spec('a', key));
    await driver.waitReady(first.id);
    await refuses('a', key, 'KEY_REPLAYED');
    await driver.start(spec('b', key));
    await refuses('c', key, 'KEY_QUOTA_EXCEEDED');
    await driver.stop('a');
    await driver.stop('b');
  });
});
