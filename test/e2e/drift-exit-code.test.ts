// `fixity drift ENV` as a diff-like command (CLI style rule 11), through the real CLI against a server whose
// reconciler checks for drift only every hour (`serve --drift-interval 1h`), so a tampered instance stays
// drifted while the test looks: without --exit-code a drift is a finding and exits 0; with it, 0 means no
// drift, 1 drift, and a generic failure (an unknown environment) 2 instead of 1.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { helloEnvironment } from '../deploy-room-kit.ts';
import { testDatabases } from '../support/databases.ts';
import { json, type StagedHello, sleep, stageHello } from '../support/deploy-kit.ts';

interface DriftReport {
  checked: Array<{ instance: string; findings: Array<{ kind: string; subject: string }> }>;
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity drift --exit-code (${database.name})`, { timeout: 300_000 }, () => {
    let staged: StagedHello;
    before(async () => {
      staged = await stageHello(database, 'fixity-drift-exit-', ['--drift-interval', '1h']);
      await staged.apply(helloEnvironment({ digest: staged.digest, services: ['hello'] }));
      const done = await staged.cli(['deploy', 'staging', '--wait', '--timeout', '2m']);
      assert.equal(done.code, 0, done.stdout + done.stderr);
    });
    after(() => (staged === undefined ? database.cleanup() : staged.close()));

    test('no drift: 0 with and without --exit-code', async () => {
      const report = json<DriftReport>(await staged.cli(['drift', 'staging', '--json']), 'drift');
      assert.equal(report.checked.length, 1);
      assert.deepEqual(report.checked[0]?.findings, []);
      const quiet = await staged.cli(['drift', 'staging', '--exit-code']);
      assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);
      assert.match(quiet.stdout, /1 instance\(s\) checked, 0 drifted now/);
    });

    test('a file added to the root: a finding (exit 0), and exit 1 with --exit-code', async () => {
      const roots = join(staged.server.dataDir, 'runtime', 'roots');
      const dirs = (await readdir(roots)).filter((d) => !d.includes('.'));
      assert.equal(dirs.length, 1, `one instance root: ${dirs.join(', ')}`);
      await writeFile(join(roots, dirs[0]!, 'app', 'backdoor.js'), 'evil()');
      // Longer than the default interval (2 s), after which the server would have replaced the instance.
      await sleep(3000);
      const plain = await staged.cli(['drift', 'staging']);
      assert.equal(plain.code, 0, plain.stdout + plain.stderr);
      assert.match(plain.stdout, /1 drifted now/);
      assert.match(plain.stdout, /file-added \S*backdoor\.js/);
      const diff = await staged.cli(['drift', 'staging', '--exit-code']);
      assert.equal(diff.code, 1, diff.stdout + diff.stderr);
      const report = json<DriftReport>(await staged.cli(['drift', 'staging', '--json']), 'drift --json');
      assert.ok(report.checked[0]?.findings.some((f) => f.kind === 'file-added' && f.subject.endsWith('backdoor.js')));
    });

    test('an error is 2 or more with --exit-code: an unknown environment exits 2 (1 without)', async () => {
      const diff = await staged.cli(['drift', 'nowhere', '--exit-code']);
      assert.equal(diff.code, 2, diff.stdout + diff.stderr);
      assert.match(diff.stderr, /nowhere/);
      assert.equal((await staged.cli(['drift', 'nowhere'])).code, 1);
      assert.equal((await staged.cli(['drift', 'staging', '--exit-code', '--bogus'])).code, 2);
    });
  });
}
