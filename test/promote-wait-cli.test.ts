// `fixity promote --wait` (CLI style rule 9) against a running `fixity serve`: a promotion held only by an
// approval still to come waits, says what it waits for, and goes through once someone approves; a gate that
// refuses is an answer at once (exit 3); a wait that outlasts --timeout exits 5 and promotes nothing; every
// duration flag (promote and deploy --timeout, gc --grace, token --expires) refuses a non-duration with exit 2.
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
    approvals:
      count: 1
  - name: prod
    from: [build]
    gates:
      - name: never
        expression: "false"
`;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`promote --wait (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    let approver: string;
    const cli = (args: string[]) => server.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });
    const pushed = async (seed: string) => {
      const image = makeImage(seed);
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'app', seed, image)).status, 201);
      const ref = `${server.host}/app@${image.digest}`;
      json(await cli(['promote', ref, '--to', 'build', '--json']), 'promote build');
      return ref;
    };
    const stages = async (ref: string) =>
      json<{ promotions: Array<{ stage: string }> }>(await cli(['status', ref, '--json']), 'status').promotions.map(
        (p) => p.stage,
      );

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-promote-wait-');
      await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
      json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline apply');
      json(
        await cli(['user', 'create', 'bob', '--role', 'approver:stage=staging', '--role', 'viewer', '--json']),
        'user create',
      );
      approver = json<{ secret: string }>(
        await cli(['token', 'create', '--user', 'bob', '--name', 'bob', '--scope', 'release', '--json']),
        'token create',
      ).secret;
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('waits for the approval it lacks, saying so, and promotes once it comes', async () => {
      const ref = await pushed('waits');
      const waiting = cli(['promote', ref, '--to', 'staging', '--wait', '--timeout', '60s', '--progress', 'plain']);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.deepEqual(await stages(ref), ['build'], 'not yet');
      const approved = await server.cli(['approve', ref, '--stage', 'staging', '-m', 'looked at it', '--json'], {
        bare: true,
        env: { FIXITY_SERVER: server.url, FIXITY_TOKEN: approver, FIXITY_CONFIG_DIR: join(dir, 'bob') },
      });
      assert.equal(approved.code, 0, approved.stderr);
      const r = await waiting;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /◷ waiting: approvals \(/);
      assert.match(r.stdout, /✔ promoted .* to staging/);
      assert.deepEqual(await stages(ref), ['build', 'staging']);
      const again = await cli(['promote', ref, '--to', 'staging', '--wait']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /is in staging/);
    });

    test('a gate that refuses is an answer at once: exit 3, no waiting', async () => {
      const ref = await pushed('refused');
      const started = Date.now();
      const r = await cli(['promote', ref, '--to', 'prod', '--wait', '--timeout', '60s']);
      assert.equal(r.code, 3, r.stderr);
      assert.ok(Date.now() - started < 20_000);
      assert.deepEqual(await stages(ref), ['build']);
    });

    test('past --timeout it exits 5, naming what it still waits for, and nothing is promoted', async () => {
      const ref = await pushed('times-out');
      const r = await cli(['promote', ref, '--to', 'staging', '--wait', '--timeout', '2s']);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /Not promoted to staging after 2 s: still waiting for approvals/);
      assert.deepEqual(await stages(ref), ['build']);
      const bad = await cli(['promote', ref, '--to', 'staging', '--wait', '--timeout', 'soon']);
      assert.equal(bad.code, 2, bad.stderr);
    });

    test('every duration flag reads 90s, 15m, 2h, 7d or seconds, and refuses anything else with exit 2', async () => {
      const tokens = async () =>
        json<{ items: Array<{ name: string }> }>(await cli(['token', 'list', '--json']), 'token list').items.map(
          (t) => t.name,
        );
      for (const args of [
        ['deploy', 'nowhere', '--wait', '--timeout', '10 minutes'],
        ['run', 'wait', 'some-rollout', '--timeout', '-1m'],
        ['gc', '--dry-run', '--grace', 'soon'],
        ['token', 'create', '--name', 'never-made', '--scope', 'pull', '--expires', '1.5d'],
      ]) {
        const flag = args.at(-2)!;
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`Cannot read ${flag} "${args.at(-1)}": not a duration`));
      }
      assert.ok(!(await tokens()).includes('never-made'));
      json(await cli(['gc', '--dry-run', '--grace', '90s', '--json']), 'gc --grace 90s');
      json(await cli(['token', 'create', '--name', 'week', '--scope', 'pull', '--expires', '7d', '--json']), 'token');
      assert.ok((await tokens()).includes('week'));
    });
  });
}
