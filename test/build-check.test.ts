// `fixity build --check` through the CLI: a reproducible source passes, and a source whose prepare step
// stamps the time fails with exit 7 and names the layer, the file and the field that differ.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = [process.execPath, new URL('../src/cli/main.ts', import.meta.url).pathname];
const HELLO = new URL('../examples/hello/', import.meta.url).pathname;

describe('fixity build --check', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-check-test-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('fixity build --check passes for examples/hello', async () => {
    const dir = join(work, 'hello');
    await cp(HELLO, dir, { recursive: true });
    const { stdout } = await run(CLI[0]!, [CLI[1]!, 'build', dir, '--check', '--json'], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
    });
    const report = JSON.parse(stdout);
    assert.equal(report.reproducible, true);
    assert.equal(report.runs[0].digest, report.runs[1].digest);
    assert.notEqual(report.runs[0].umask, report.runs[1].umask);
  });

  it('fixity build --check fails with exit 7 and names the file and field that differ', async () => {
    const dir = join(work, 'stamped');
    await cp(HELLO, dir, { recursive: true });
    await writeFile(
      join(dir, 'fixity.yaml'),
      'name: stamped\nversion: 1.0.0\nprepare:\n  run: "mkdir out && date +%s%N > out/stamp"\n  outputs: [out]\nlayers:\n  - from: out\n    to: /stamp\n',
    );
    const err = await run(CLI[0]!, [CLI[1]!, 'build', dir, '--check'], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
    }).then(
      () => assert.fail('expected a failure'),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(err.code, 7);
    assert.match(err.stdout, /not reproducible/);
    assert.match(err.stdout, /layer 0: stamp\/stamp: content sha256:\w+ vs sha256:\w+/);
  });
});
