import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readSourceInfo } from './source-info.ts';

const COMMIT_TIME = 1_700_000_123;

describe('readSourceInfo()', () => {
  let dir: string;
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@example.com',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@example.com',
        GIT_AUTHOR_DATE: `@${COMMIT_TIME} +0000`,
        GIT_COMMITTER_DATE: `@${COMMIT_TIME} +0000`,
      },
    })
      .toString()
      .trim();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fixity-source-info-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('readSourceInfo() takes the commit time of HEAD only from a clean work tree, and says which rule chose', async () => {
    assert.deepEqual(await readSourceInfo(dir), {
      sourceDateEpoch: 0,
      epochFrom: 'default-zero',
      repository: null,
      revision: null,
      clean: false,
    });
    git('init', '-q');
    await writeFile(join(dir, 'a.txt'), 'a\n');
    assert.equal((await readSourceInfo(dir)).revision, null, 'no commit yet');
    git('add', 'a.txt');
    git('commit', '-q', '-m', 'one');
    const head = git('rev-parse', 'HEAD');
    git('remote', 'add', 'origin', 'https://user:secret@example.com/team/app.git');
    await writeFile(join(dir, 'untracked.txt'), 'not part of the build source\n');
    assert.deepEqual(await readSourceInfo(dir), {
      sourceDateEpoch: COMMIT_TIME,
      epochFrom: 'git-commit',
      repository: 'https://example.com/team/app.git',
      revision: head,
      clean: true,
    });
    assert.deepEqual(await readSourceInfo(dir, { sourceDateEpoch: 42 }), {
      sourceDateEpoch: 42,
      epochFrom: 'SOURCE_DATE_EPOCH',
      repository: 'https://example.com/team/app.git',
      revision: head,
      clean: true,
    });
    await writeFile(join(dir, 'a.txt'), 'changed\n');
    assert.deepEqual(await readSourceInfo(dir), {
      sourceDateEpoch: 0,
      epochFrom: 'default-zero',
      repository: 'https://example.com/team/app.git',
      revision: head,
      clean: false,
    });
  });
});
