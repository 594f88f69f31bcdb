// A digest walks build → test → staging → production through the real CLI against a real server: gates
// explain themselves (exit 3), approvals come from someone else, a veto stops everything, and the audit
// report proves who did what.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import { type CLIResult, type ServerProcess, startServerProcess, tempDir } from '../support/server-process.ts';
import { makeImage, pushImage } from './registry-client.ts';

const PIPELINE = `name: hello
stages:
  - name: build
  - name: test
    from: [build]
    gates:
      - name: signed
        expression: "signatures.exists(s, s.verified && s.role == 'signer')"
  - name: staging
    from: [test]
    approvals:
      count: 1
  - name: production
    from: [staging]
    gates:
      - name: tests-passed
        expression: "tests != null && tests.result == 'PASSED'"
`;

function json<T = Record<string, unknown>>(r: CLIResult, what: string): T {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`promotion through the CLI (${database.name})`, () => {
    let server: ServerProcess;
    let dir: string;
    let ref: string;
    let alice: string;
    // As the admin by default; as another identity with `token` (then --server/--token are ours to give).
    const cli = (args: string[], token?: string) =>
      server.cli(token === undefined ? args : [...args, '--server', server.url, '--token', token], {
        env: { FIXITY_CONFIG_DIR: join(dir, 'config') },
        bare: token !== undefined,
      });

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-release-');
      const image = makeImage('release-e2e');
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'shop/web', '1.0.0', image)).status, 201);
      ref = `${server.host}/shop/web:1.0.0`;
      json(await cli(['key', 'generate', '--out', join(dir, 'ci'), '--json']), 'key generate');
      json(
        await cli([
          'key',
          'register',
          join(dir, 'ci.pub'),
          '--role',
          'signer',
          '--valid-from',
          '2000-01-01T00:00:00Z',
          '--json',
        ]),
        'key register',
      );
      // alice approves: an approver (no promote, no pipeline changes) with a release-scoped token.
      json(await cli(['user', 'create', 'alice', '--role', 'approver', '--json']), 'user create');
      alice = json<{ secret: string }>(
        await cli(['token', 'create', '--user', 'alice', '--name', 'alice-laptop', '--scope', 'release', '--json']),
        'token create',
      ).secret;
      await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('pipeline apply stores a version; a second identical apply does not', async () => {
      const first = json<{ version: number; digest: string }>(
        await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']),
        'pipeline apply',
      );
      const again = json<{ version: number }>(
        await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']),
        'again',
      );
      assert.equal(again.version, first.version);
      const denied = await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml')], alice);
      assert.equal(denied.code, 4, denied.stderr);
    });

    test('an unsigned digest is refused at the test gate with exit 3 and an explanation', async () => {
      json(await cli(['promote', ref, '--to', 'build', '--json']), 'promote build');
      const refused = await cli(['promote', ref, '--to', 'test']);
      assert.equal(refused.code, 3, refused.stdout + refused.stderr);
      assert.match(refused.stdout, /gate signed/);
      assert.match(refused.stdout, /expression: signatures\.exists/);
    });

    test('signed, it reaches test; staging waits for an approval by someone other than the promoter', async () => {
      json(await cli(['sign', ref, '--key', join(dir, 'ci.key'), '--json']), 'sign');
      const promoted = json<{ result: string }>(await cli(['promote', ref, '--to', 'test', '--json']), 'promote test');
      assert.equal(promoted.result, 'promoted');
      const waiting = await cli(['promote', ref, '--to', 'staging']);
      assert.equal(waiting.code, 3, waiting.stdout);
      assert.match(waiting.stdout, /approvals/);
      const approverPromotes = await cli(['promote', ref, '--to', 'staging'], alice);
      assert.equal(approverPromotes.code, 4, approverPromotes.stdout + approverPromotes.stderr);
      assert.match(approverPromotes.stderr, /alice lacks the releaser role/);
      json(await cli(['approve', ref, '--stage', 'staging', '--comment', 'looks good', '--json'], alice), 'approve');
      const staged = json<{ result: string }>(
        await cli(['promote', ref, '--to', 'staging', '--json']),
        'promote staging',
      );
      assert.equal(staged.result, 'promoted');
      const status = json<{
        promotions: Array<{ stage: string }>;
        next: Array<{ stage: string; decision: { allowed: boolean } }>;
      }>(await cli(['status', ref, '--json']), 'status');
      assert.deepEqual(
        status.promotions.map((p) => p.stage),
        ['build', 'test', 'staging'],
      );
      assert.deepEqual(
        status.next.map((n) => [n.stage, n.decision.allowed]),
        [['production', false]],
      );
    });

    test('a veto blocks every later promotion until an admin lifts it', async () => {
      json(await cli(['veto', ref, '--reason', 'CVE-2026-0001', '--json']), 'veto');
      const predicate = join(dir, 'tests.json');
      await writeFile(predicate, JSON.stringify({ result: 'PASSED', passedTests: ['unit'] }));
      json(
        await cli([
          'attest',
          ref,
          '--key',
          join(dir, 'ci.key'),
          '--type',
          'https://in-toto.io/attestation/test-result/v0.1',
          '--predicate',
          predicate,
          '--json',
        ]),
        'attest',
      );
      const vetoed = await cli(['promote', ref, '--to', 'production']);
      assert.equal(vetoed.code, 3, vetoed.stdout);
      assert.match(vetoed.stdout, /veto/);
      const notAdmin = await cli(['veto', ref, '--lift'], alice);
      assert.notEqual(notAdmin.code, 0);
      json(await cli(['veto', ref, '--lift', '--json']), 'lift');
      const done = json<{ result: string }>(
        await cli(['promote', ref, '--to', 'production', '--json']),
        'promote production',
      );
      assert.equal(done.result, 'promoted');
    });

    test('the audit report lists each promotion and approval with a verified proof', async () => {
      const report = json<{
        ok: boolean;
        rows: Array<{ event: string; actor: string; verified: boolean; stage?: string }>;
      }>(await cli(['audit', 'report', '--json']), 'audit report');
      assert.equal(report.ok, true);
      const promotions = report.rows.filter((r) => r.event === 'promotion').map((r) => r.stage);
      assert.deepEqual(promotions, ['build', 'test', 'staging', 'production']);
      assert.ok(report.rows.some((r) => r.event === 'approval' && r.actor.includes('alice')));
      assert.ok(report.rows.every((r) => r.verified));
    });
  });
}
