// Dry runs (CLI style rule 13) against a running `fixity serve`: `promote --dry-run` shows every gate and what
// would happen (promote, be refused, or nothing: already there) and `deploy --dry-run` the release each
// service would roll out or why not; both exit 0, ask no confirmation, and change nothing.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage } from './e2e/registry-client.ts';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess, tempDir } from './support/server-process.ts';

const PIPELINE = `name: app
stages:
  - name: build
  - name: staging
    from: [build]
    protected: true
  - name: prod
    from: [staging]
    gates:
      - name: signed
        expression: "signatures.exists(s, s.verified)"
`;
const environment = (name: string, stage: string, digest: string) =>
  `apiVersion: fixity.dev/v1\nkind: Environment\nname: ${name}\nstage: ${stage}\nservices:\n  - name: web\n    replicas: 2\n    image: { repository: app, digest: "${digest}" }\n`;

interface Plan {
  kind: string;
  result: string;
  pipelineVersion: number;
  message?: string;
  decision?: { allowed: boolean; steps: Array<{ kind: string; name: string; passed: boolean }> };
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`dry runs of promote and deploy (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    let ref: string;
    let digest: string;
    const cli = (args: string[]) => server.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });
    const stages = async () =>
      json<{ promotions: Array<{ stage: string }> }>(await cli(['status', ref, '--json']), 'status').promotions.map(
        (p) => p.stage,
      );

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-dry-run-');
      const image = makeImage('dry-run');
      digest = image.digest;
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'app', '1.0.0', image)).status, 201);
      ref = `${server.host}/app@${digest}`;
      await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
      json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline apply');
      json(await cli(['promote', ref, '--to', 'build', '--json']), 'promote build');
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('promote --dry-run shows what would happen, asks nothing even for a protected stage, changes nothing', async () => {
      const plan = json<Plan>(await cli(['promote', ref, '--to', 'staging', '--dry-run', '--json']), 'dry run');
      assert.equal(plan.kind, 'PromotionPlan');
      assert.equal(plan.result, 'would-promote');
      assert.equal(plan.decision?.allowed, true);
      assert.equal(plan.pipelineVersion, 1);
      assert.deepEqual(await stages(), ['build'], 'nothing was promoted');

      const human = await cli(['promote', ref, '--to', 'staging', '-n']);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /→ staging \(pipeline version 1\)/);
      assert.match(human.stdout, /^Plan: would promote\. Nothing was changed\.$/m);
    });

    test('a gate that would fail is shown failing, with exit 0; a stage already entered says so', async () => {
      json(await cli(['promote', ref, '--to', 'staging', '--yes', '-m', 'QA passed', '--json']), 'promote staging');
      const refused = await cli(['promote', ref, '--to', 'prod', '--dry-run']);
      assert.equal(refused.code, 0, refused.stderr);
      assert.match(refused.stdout, /✘ gate signed/);
      assert.match(refused.stdout, /^Plan: would be refused \(1 step\(s\) fail\)\. Nothing was changed\.$/m);
      const plan = json<Plan>(await cli(['promote', ref, '--to', 'prod', '-n', '--json']), 'dry run prod');
      assert.equal(plan.result, 'would-refuse');
      assert.deepEqual(
        plan.decision?.steps.filter((s) => !s.passed).map((s) => `${s.kind} ${s.name}`),
        ['gate signed'],
      );
      const already = json<Plan>(await cli(['promote', ref, '--to', 'build', '-n', '--json']), 'dry run build');
      assert.equal(already.result, 'already-in');
      assert.match(already.message ?? '', /build/);
      assert.deepEqual(await stages(), ['build', 'staging'], 'still only what the real promotions did');
    });

    test('deploy --dry-run names the release each service would roll out, or why not, and starts nothing', async () => {
      await writeFile(join(dir, 'staging.yaml'), environment('staging', 'staging', digest));
      await writeFile(join(dir, 'prod.yaml'), environment('prod', 'prod', digest));
      json(await cli(['env', 'apply', join(dir, 'staging.yaml'), '--json']), 'apply staging');
      const applied = await cli(['env', 'apply', join(dir, 'prod.yaml')]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(applied.stderr, 'Next: fixity deploy prod --dry-run\n', 'the next command, on stderr');

      const plan = json<{ kind: string; items: Array<Record<string, unknown>> }>(
        await cli(['deploy', 'staging', '--dry-run', '--json']),
        'deploy dry run',
      );
      assert.equal(plan.kind, 'DeployPlan');
      assert.equal(plan.items.length, 1);
      const [web] = plan.items;
      assert.equal(web?.service, 'web');
      assert.equal(web?.result, 'start');
      assert.equal(web?.current, null);
      assert.equal(web?.image, digest);
      assert.match(String(web?.release), /^sha256:[0-9a-f]{64}$/);
      assert.equal(web?.strategy, 'rolling');
      const status = json<{ services: Array<{ rollout: unknown; currentRelease: unknown }> }>(
        await cli(['rollout', 'status', 'staging', '--json']),
        'status',
      );
      assert.equal(status.services[0]?.rollout ?? null, null, 'no rollout was started');

      const human = await cli(['deploy', 'staging', '-n']);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^ {2}\+ web: a rolling rollout to 2 replica\(s\): nothing yet → [0-9a-f]{12} /m);
      assert.match(human.stdout, /^Plan: 1 to roll out, 0 unchanged\. Nothing was changed\.$/m);

      const refused = json<{ items: Array<Record<string, unknown>> }>(
        await cli(['deploy', 'prod', '--dry-run', '--json']),
        'deploy dry run prod',
      );
      assert.equal(refused.items[0]?.result, 'refused');
      assert.match(String(refused.items[0]?.message), /never promoted to stage "prod"/);

      // The real deploy: its instances never get ready (the image holds no program), so --wait times out.
      const waited = await cli(['deploy', 'staging', '--wait', '--timeout', '1']);
      assert.equal(waited.code, 5, waited.stderr);
      assert.match(waited.stderr, /Rollout still in progress after 1 s/);
    });
  });
}
