// `fixity env delete` against a running `fixity serve`: an unknown environment exits 1, a rollout in
// progress exits 6 and says how to go on, --force deletes it anyway with one JSON document on stdout, the
// human output says what was removed, and the name can be applied again.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage } from './e2e/registry-client.ts';
import { testDatabases } from './support/databases.ts';
import { json, sleep } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess, tempDir } from './support/server-process.ts';

const PIPELINE = 'name: app\nstages:\n  - name: build\n  - name: staging\n    from: [build]\n';

/** One service of an image whose layer is no tar: its instances never start, so its rollout stays active. */
const environment = (digest: string) =>
  `apiVersion: fixity.dev/v1\nkind: Environment\nname: staging\nstage: staging\nservices:\n  - name: web\n    image: { repository: app, digest: "${digest}" }\n`;

interface Deletion {
  kind: string;
  environment: string;
  version: number;
  force: boolean;
  complete: boolean;
  abortedRollouts: string[];
  services: Array<{ service: string; instances: string[] }>;
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity env delete (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    const cli = (args: string[]) => server.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });
    const apply = async () =>
      json<{ version: number }>(await cli(['env', 'apply', join(dir, 'env.yaml'), '--json']), 'apply');

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-env-delete-');
      const image = makeImage('env-delete');
      const pushed = await pushImage({ url: server.url, auth: server.auth() }, 'app', '1.0.0', image);
      assert.equal(pushed.status, 201);
      await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
      json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline apply');
      for (const stage of ['build', 'staging'])
        json(await cli(['promote', `${server.host}/app@${image.digest}`, '--to', stage, '--json']), `promote ${stage}`);
      await writeFile(join(dir, 'env.yaml'), environment(image.digest));
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('an unknown environment exits 1 with NOT_FOUND on stderr and nothing on stdout', async () => {
      const human = await cli(['env', 'delete', 'nowhere']);
      assert.equal(human.code, 1);
      assert.equal(human.stdout, '');
      assert.match(human.stderr, /error: Cannot delete nowhere: no environment "nowhere"/);
      const machine = await cli(['env', 'delete', 'nowhere', '--json']);
      assert.equal(machine.code, 1);
      assert.equal((JSON.parse(machine.stderr) as { error: { code: string } }).error.code, 'NOT_FOUND');
    });

    test('a rollout in progress exits 6; --force --json deletes it and aborts the rollout', async () => {
      const applied = await apply();
      // The reconciler pass that applying starts records the service with its router; a deploy racing it can
      // hit the same new row, so wait for the router first.
      for (let n = 0; n < 100; n++) {
        const status = json<{ services: Array<{ url: string | null }> }>(
          await cli(['rollout', 'status', 'staging', '--json']),
          'status',
        );
        if (status.services[0]?.url) break;
        await sleep(100);
      }
      const deployed = json<{ items: Array<{ rollout: string }> }>(
        await cli(['deploy', 'staging', '--json']),
        'deploy',
      );
      const rollout = deployed.items[0]?.rollout as string;
      const refused = await cli(['env', 'delete', 'staging', '--yes']);
      assert.equal(refused.code, 6, refused.stderr);
      assert.match(refused.stderr, new RegExp(`rollout ${rollout} of web is in progress`));
      assert.match(refused.stderr, /--force/);
      assert.equal((await cli(['env', 'show', 'staging'])).code, 0, 'still there');

      const forced = await cli(['env', 'delete', 'staging', '--force', '--yes', '--json']);
      const deleted = json<Deletion>(forced, 'env delete --force');
      assert.equal(deleted.kind, 'EnvironmentDeletion');
      assert.equal(deleted.environment, 'staging');
      assert.equal(deleted.version, applied.version);
      assert.equal(deleted.force, true);
      assert.equal(deleted.complete, true);
      assert.deepEqual(deleted.abortedRollouts, [rollout]);
      assert.deepEqual(
        deleted.services.map((s) => s.service),
        ['web'],
      );
      const show = await cli(['env', 'show', 'staging', '--json']);
      assert.equal(show.code, 1);
      assert.equal((JSON.parse(show.stderr) as { error: { code: string } }).error.code, 'NOT_FOUND');
    });

    test('applied again it is a new version; deleting it prints what was removed', async () => {
      const again = await apply();
      assert.equal(again.version, 2);
      const human = await cli(['env', 'delete', 'staging', '--yes']);
      assert.equal(human.code, 0, human.stderr);
      const lines = human.stdout.trimEnd().split('\n');
      assert.equal(lines[0], '✔ deleted environment staging (version 2, stage staging)');
      assert.match(lines[1] ?? '', /^ {2}- web: 0 instance\(s\) stopped, (no router open|router http:\/\/\S+ closed)$/);
      assert.equal(lines.length, 2, human.stdout);
      const list = json<{ items: unknown[] }>(await cli(['env', 'list', '--json']), 'env list');
      assert.deepEqual(list.items, []);
    });
  });
}
