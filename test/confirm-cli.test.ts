// Confirmation of what is destructive or protected (CLI style rule 14), against a running `fixity serve`:
// promoting into a stage marked `protected: true`, rolling back an environment bound to one and deleting an
// environment refuse with exit 2 where nobody can be asked, change nothing, and go on with --yes; on a real
// terminal (a pty from script(1)) the user types the name, and a wrong one cancels with exit 1.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage } from './e2e/registry-client.ts';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess, tempDir } from './support/server-process.ts';

const PIPELINE = 'name: app\nstages:\n  - name: build\n  - name: prod\n    from: [build]\n    protected: true\n';
const environment = (digest: string) =>
  `apiVersion: fixity.dev/v1\nkind: Environment\nname: live\nstage: prod\nservices:\n  - name: web\n    image: { repository: app, digest: "${digest}" }\n`;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`confirmation of protected and destructive commands (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    let ref: string;
    const env = () => ({ FIXITY_CONFIG_DIR: join(dir, 'config'), CI: '', FIXITY_NO_PROMPT: '' });
    const cli = (args: string[]) => server.cli(args, { env: env() });
    const inStage = async (stage: string) => {
      const status = json<{ promotions: Array<{ stage: string }> }>(await cli(['status', ref, '--json']), 'status');
      return status.promotions.some((p) => p.stage === stage);
    };

    const onTerminal = (args: string[], answer: string, extra: NodeJS.ProcessEnv = {}) =>
      server.cliOnTerminal(args, answer, { ...env(), ...extra });

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-confirm-');
      const image = makeImage('confirm');
      const pushed = await pushImage({ url: server.url, auth: server.auth() }, 'app', '1.0.0', image);
      assert.equal(pushed.status, 201);
      ref = `${server.host}/app@${image.digest}`;
      await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
      json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline apply');
      json(await cli(['promote', ref, '--to', 'build', '--json']), 'promote build (not protected: no question)');
      await writeFile(join(dir, 'env.yaml'), environment(image.digest));
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('promoting into a protected stage where nobody can be asked exits 2 and promotes nothing', async () => {
      for (const extra of [{}, { CI: 'true' }, { FIXITY_NO_PROMPT: '1' }]) {
        const refused = await server.cli(['promote', ref, '--to', 'prod'], { env: { ...env(), ...extra } });
        assert.equal(refused.code, 2, refused.stderr);
        assert.equal(refused.stdout, '');
        assert.match(refused.stderr, /Cannot promote into protected stage prod without confirmation/);
        assert.match(refused.stderr, /fix: add --yes/);
      }
      assert.equal(await inStage('prod'), false);
    });

    test('on a terminal, a wrong name cancels with exit 1; the stage name promotes', async () => {
      for (const extra of [{ CI: 'true' }, { FIXITY_NO_PROMPT: '1' }]) {
        const unattended = await onTerminal(['promote', ref, '--to', 'prod'], 'prod', extra);
        assert.equal(unattended.code, 2, `${JSON.stringify(extra)}: ${unattended.output}`);
        assert.match(unattended.output, /fix: add --yes/);
      }
      const wrong = await onTerminal(['promote', ref, '--to', 'prod'], 'prd');
      assert.equal(wrong.code, 1, wrong.output);
      assert.match(wrong.output, /app@sha256:[0-9a-f]{64} → prod \(protected\)/);
      assert.match(wrong.output, /Cancelled: "prd" is not "prod"; nothing was changed/);
      assert.equal(await inStage('prod'), false);

      // A protected stage also wants a reason (style rule 15): without --reason and nobody to ask, exit 2.
      const reasonless = await cli(['promote', ref, '--to', 'prod', '--yes']);
      assert.equal(reasonless.code, 2, reasonless.stderr);
      assert.match(reasonless.stderr, /Cannot promote into protected stage prod without --reason/);
      assert.equal(await inStage('prod'), false);

      const right = await onTerminal(['promote', ref, '--to', 'prod', '-m', 'release 1.0 after QA'], 'prod');
      assert.equal(right.code, 0, right.output);
      assert.match(right.output, /✔ promoted .* to prod/);
      assert.equal(await inStage('prod'), true);
      const status = json<{ promotions: Array<{ stage: string; reason: string | null }> }>(
        await cli(['status', ref, '--json']),
        'status',
      );
      assert.equal(status.promotions.find((p) => p.stage === 'prod')?.reason, 'release 1.0 after QA');
      assert.equal(status.promotions.find((p) => p.stage === 'build')?.reason, null);
    });

    test('rolling back an environment of a protected stage asks; --yes goes on to the server', async () => {
      json(await cli(['env', 'apply', join(dir, 'env.yaml'), '--json']), 'env apply');
      const refused = await cli(['rollback', 'live', 'web']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /Cannot roll back web in live without confirmation/);
      const asked = await cli(['rollback', 'live', 'web', '--yes', '--json']);
      assert.doesNotMatch(asked.stderr, /confirmation/);
      assert.notEqual(asked.code, 2, asked.stderr);
    });

    test('deleting an environment asks for its name: exit 2 without --yes, and it is still there', async () => {
      const refused = await cli(['env', 'delete', 'live']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /Cannot delete environment live without confirmation/);
      assert.equal((await cli(['env', 'show', 'live'])).code, 0, 'still there');
      const unknown = await cli(['env', 'delete', 'nowhere']);
      assert.equal(unknown.code, 1, 'an unknown name is reported as before, without a question');
      assert.match(unknown.stderr, /no environment "nowhere"/);

      const typed = await onTerminal(['env', 'delete', 'live', '--force'], 'live');
      assert.equal(typed.code, 0, typed.output);
      assert.match(typed.output, /Environment live \(stage prod\): every instance of web is stopped/);
      assert.match(typed.output, /✔ deleted environment live/);
      assert.equal((await cli(['env', 'show', 'live'])).code, 1, 'gone');
    });
  });
}
