// Keys, signatures, attestations and the ledger through the real CLI against a real `fixity serve`:
// sign → verify (by key and by role), attest → verify --type, revocation at signing time, bundles that the
// stock @sigstore/verify accepts with the ledger as its transparency log, and offline ledger verification.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { testDatabases } from '../support/databases.ts';
import { dockerRegistryAvailable, startDockerRegistry } from '../support/docker-registry.ts';
import { type CLIResult, ROOT, type ServerProcess, startServerProcess, tempDir } from '../support/server-process.ts';
import { getManifest, makeImage, pushImage, type Registry, request } from './registry-client.ts';

function json<T = Record<string, unknown>>(r: CLIResult, what: string): T {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

interface Verification {
  ok: boolean;
  digest: string;
  signatures: Array<{ ok: boolean; keyId: string; source: string; steps: Array<{ name: string; ok: boolean }> }>;
  attestations: Array<{ ok: boolean; predicateType: string }>;
  missing: string[];
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`signing, attestations and the ledger (${database.name})`, () => {
    let server: ServerProcess;
    let dir: string;
    let ref: string;
    let digest: string;
    const reg = (): Registry => ({ url: server.url, auth: server.auth() });

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-trust-');
      const image = makeImage('trust-e2e');
      assert.equal((await pushImage(reg(), 'trust/app', 'v1', image)).status, 201);
      digest = image.digest;
      ref = `${server.host}/trust/app:v1`;
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });
    const cli = (args: string[]) => server.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });

    test('key generate writes NAME.key (0600) and NAME.pub with the SPKI key id', async () => {
      const pair = json<{ keyId: string; privateKeyFile: string; publicKeyFile: string }>(
        await cli(['key', 'generate', '--out', join(dir, 'alice'), '--json']),
        'key generate',
      );
      assert.match(pair.keyId, /^[0-9a-f]{64}$/);
      const { stat } = await import('node:fs/promises');
      assert.equal((await stat(pair.privateKeyFile)).mode & 0o777, 0o600);
      const again = await cli(['key', 'generate', '--out', join(dir, 'alice')]);
      assert.notEqual(again.code, 0, 'generate must refuse to overwrite a key');
      json(await cli(['key', 'generate', '--out', join(dir, 'ed'), '--type', 'ed25519', '--json']), 'ed25519');
    });

    test('sign writes the legacy .sig tag and a bundle referrer; verify --key passes', async () => {
      const signed = json<{ digest: string; legacyTag: string; bundleReferrer: string }>(
        await cli([
          'sign',
          ref,
          '--key',
          join(dir, 'alice.key'),
          '--bundle-out',
          join(dir, 'sig.bundle.json'),
          '--json',
        ]),
        'sign',
      );
      assert.equal(signed.digest, digest);
      const hex = digest.slice('sha256:'.length);
      assert.equal(signed.legacyTag, `sha256-${hex}.sig`);
      const legacy = await getManifest(reg(), 'trust/app', signed.legacyTag);
      assert.equal(legacy.status, 200);
      const layers = (JSON.parse(legacy.body.toString()) as { layers: Array<Record<string, unknown>> }).layers;
      assert.equal(layers[0]?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
      const referrers = await request(`${server.url}/v2/trust/app/referrers/${digest}`, {
        headers: { Authorization: server.auth() },
      });
      const index = JSON.parse(referrers.body.toString()) as { manifests: Array<{ artifactType?: string }> };
      assert.ok(index.manifests.some((m) => m.artifactType === 'application/vnd.dev.sigstore.bundle.v0.3+json'));

      const verified = json<Verification>(
        await cli(['verify', ref, '--key', join(dir, 'alice.pub'), '--json']),
        'verify --key',
      );
      assert.equal(verified.ok, true);
      assert.ok(verified.signatures.some((s) => s.ok && s.source === 'bundle'));
      assert.ok(verified.signatures.some((s) => s.ok && s.source === 'cosign-legacy'));
    });

    test('verify fails (exit 7) with the wrong key, and for an unsigned image', async () => {
      json(await cli(['key', 'generate', '--out', join(dir, 'mallory'), '--json']), 'key generate');
      const wrong = await cli(['verify', ref, '--key', join(dir, 'mallory.pub')]);
      assert.equal(wrong.code, 7, wrong.stdout + wrong.stderr);
      const other = makeImage('trust-unsigned');
      assert.equal((await pushImage(reg(), 'trust/app', 'unsigned', other)).status, 201);
      const unsigned = await cli(['verify', `${server.host}/trust/app:unsigned`, '--key', join(dir, 'alice.pub')]);
      assert.equal(unsigned.code, 7);
    });

    test('the sign bundle verifies with the stock @sigstore/verify, ledger inclusion and SET included', async () => {
      const bundle = bundleFromJSON(JSON.parse(await readFile(join(dir, 'sig.bundle.json'), 'utf8')));
      const manifest = (await getManifest(reg(), 'trust/app', digest)).body;
      const root = JSON.parse(
        (
          await request(`${server.url}/api/v1/ledger/trusted-root`, { headers: { Authorization: server.auth() } })
        ).body.toString(),
      );
      const pub = await readFile(join(dir, 'alice.pub'), 'utf8');
      const der = createPublicKey(pub).export({ type: 'spki', format: 'der' });
      const hint =
        bundle.verificationMaterial.content.$case === 'publicKey'
          ? bundle.verificationMaterial.content.publicKey.hint
          : '';
      const trust = toTrustMaterial(TrustedRoot.fromJSON(root), {
        [hint]: { rawBytes: der, keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: new Date(0) } },
      } as never);
      const verifier = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
      verifier.verify(toSignedEntity(bundle, manifest));
      // A different artifact (another manifest) must not verify.
      assert.throws(() => verifier.verify(toSignedEntity(bundle, makeImage('other').manifest)));
    });

    test('attest stores a DSSE bundle referrer; verify --type checks it; a missing type fails', async () => {
      const predicate = join(dir, 'tests.json');
      await writeFile(predicate, JSON.stringify({ result: 'PASSED', passedTests: ['unit'] }));
      json(
        await cli([
          'attest',
          ref,
          '--type',
          'https://in-toto.io/attestation/test-result/v0.1',
          '--predicate',
          predicate,
          '--key',
          join(dir, 'alice.key'),
          '--json',
        ]),
        'attest',
      );
      const ok = json<Verification>(
        await cli([
          'verify',
          ref,
          '--key',
          join(dir, 'alice.pub'),
          '--type',
          'https://in-toto.io/attestation/test-result/v0.1',
          '--json',
        ]),
        'verify --type',
      );
      assert.ok(ok.attestations.some((a) => a.ok && a.predicateType.endsWith('test-result/v0.1')));
      const missing = await cli([
        'verify',
        ref,
        '--key',
        join(dir, 'alice.pub'),
        '--type',
        'https://slsa.dev/provenance/v1',
      ]);
      assert.equal(missing.code, 7);
    });

    test('verify --role uses the trust store; a key revoked after signing still verifies, before does not', async () => {
      // Alice signed before her key was registered; the registration vouches for it from 2000 on.
      json(
        await cli([
          'key',
          'register',
          join(dir, 'alice.pub'),
          '--role',
          'signer',
          '--valid-from',
          '2000-01-01T00:00:00Z',
          '--json',
        ]),
        'register',
      );
      json(await cli(['verify', ref, '--role', 'signer', '--json']), 'verify --role');
      const keyId = json<{ keyId: string }>(
        await cli(['key', 'generate', '--out', join(dir, 'bob'), '--json']),
        'generate bob',
      ).keyId;
      const aliceId = json<{ items: Array<{ keyId: string; name: string }> }>(
        await cli(['key', 'list', '--json']),
        'key list',
      ).items.find((k) => k.name === 'alice')!.keyId;
      json(await cli(['key', 'revoke', aliceId, '--reason', 'laptop lost', '--json']), 'revoke');
      // Alice's signature was logged before the revocation: still valid.
      json(await cli(['verify', ref, '--role', 'signer', '--json']), 'verify after revocation');
      // Bob registers, is revoked, and only then signs: refused.
      json(await cli(['key', 'register', join(dir, 'bob.pub'), '--role', 'signer', '--json']), 'register bob');
      json(await cli(['key', 'revoke', keyId, '--reason', 'test', '--json']), 'revoke bob');
      const other = makeImage('trust-bob');
      assert.equal((await pushImage(reg(), 'trust/bob', 'v1', other)).status, 201);
      json(await cli(['sign', `${server.host}/trust/bob:v1`, '--key', join(dir, 'bob.key'), '--json']), 'sign bob');
      const refused = await cli(['verify', `${server.host}/trust/bob:v1`, '--role', 'signer']);
      assert.equal(refused.code, 7, refused.stdout);
      assert.match(refused.stdout, /revoked/);
    });

    test('a build with a builder key pushes signed provenance and SBOM bundles that verify by type', async () => {
      json(await cli(['key', 'generate', '--out', join(dir, 'builder'), '--json']), 'builder key');
      const built = json<{ digest: string }>(
        await cli([
          'build',
          join(ROOT, 'examples/hello'),
          '--push',
          `${server.host}/trust/hello:1.0.0`,
          '--key',
          join(dir, 'builder.key'),
          '--json',
        ]),
        'build --key',
      );
      const report = json<Verification>(
        await cli([
          'verify',
          `${server.host}/trust/hello@${built.digest}`,
          '--key',
          join(dir, 'builder.pub'),
          '--type',
          'https://slsa.dev/provenance/v1',
          '--type',
          'https://spdx.dev/Document',
          '--json',
        ]),
        'verify the build evidence',
      ).attestations;
      assert.deepEqual(
        report
          .filter((a) => a.ok)
          .map((a) => a.predicateType)
          .sort(),
        ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document'],
      );
    });

    test('sign and verify an image in a registry without the referrers API (distribution 2.8)', async (t) => {
      if (!dockerRegistryAvailable()) return t.skip('docker-registry is not installed');
      const distribution = await startDockerRegistry();
      try {
        const other: Registry = { url: `http://${distribution.host}`, auth: '' };
        const image = makeImage('trust-distribution');
        assert.equal((await pushImage(other, 'acme/app', 'v1', image)).status, 201);
        const target = `${distribution.host}/acme/app:v1`;
        json(await cli(['sign', target, '--key', join(dir, 'alice.key'), '--json']), 'sign on distribution');
        // No referrers API there: the bundle is found through the sha256-<hex> referrers tag.
        const tags = JSON.parse(
          (await request(`http://${distribution.host}/v2/acme/app/tags/list`)).body.toString(),
        ) as {
          tags: string[];
        };
        const hex = image.digest.slice('sha256:'.length);
        assert.ok(tags.tags.includes(`sha256-${hex}`), JSON.stringify(tags));
        assert.ok(tags.tags.includes(`sha256-${hex}.sig`), JSON.stringify(tags));
        const report = json<Verification>(
          await cli(['verify', target, '--key', join(dir, 'alice.pub'), '--json']),
          'verify on distribution',
        );
        assert.ok(report.signatures.some((s) => s.ok && s.source === 'bundle'));
      } finally {
        await distribution.stop();
      }
    });

    test('ledger proof, verify and an offline export that detects tampering', async () => {
      const proof = json<{ items: Array<{ verified: boolean; entry: { event: string } }> }>(
        await cli(['ledger', 'proof', digest, '--json']),
        'ledger proof',
      );
      const events = proof.items.map((i) => i.entry.event);
      assert.ok(events.includes('signature'), JSON.stringify(events));
      assert.ok(proof.items.every((i) => i.verified));
      const verified = json<{ ok: boolean; size: number }>(await cli(['ledger', 'verify', '--json']), 'ledger verify');
      assert.equal(verified.ok, true);
      assert.ok(verified.size > 5);
      // Run again: the client proves the log only grew since the checkpoint it pinned.
      const again = json<{ consistentWithPrevious: boolean }>(await cli(['ledger', 'verify', '--json']), 'again');
      assert.equal(again.consistentWithPrevious, true);

      const archive = join(dir, 'ledger.tar');
      json(await cli(['ledger', 'export', '--out', archive, '--json']), 'ledger export');
      const key = join(server.dataDir, 'ledger.pub');
      json(await cli(['ledger', 'verify', '--export', archive, '--key', key, '--json']), 'offline verify');
      const wrongKey = await cli(['ledger', 'verify', '--export', archive, '--key', join(dir, 'alice.pub')]);
      assert.equal(wrongKey.code, 7);
    });
  });
}
