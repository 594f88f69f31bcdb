// --debug (CLI style rule 12): a failed command prints no stack trace, and with --debug (or FIXITY_DEBUG=1)
// writes a log of its own (mode 0600) holding the stack and every cause, with secrets left out, and says where.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { redactArgv } from '../src/cli/debug-log.ts';
import { runCLI, tempDir } from './support/server-process.ts';

const SECRET = 'fxt_debugtestsecretdebugtestsecret';

test('redactArgv hides token values given either way, and anything shaped like a token', () => {
  assert.deepEqual(redactArgv(['status', 'x', '--token', SECRET, `--token=${SECRET}`, SECRET, '--server', 'u']), [
    'status',
    'x',
    '--token',
    '<redacted>',
    '--token=<redacted>',
    '<redacted>',
    '--server',
    'u',
  ]);
});

test('a failure prints no stack; with --debug it writes a private log with the stack and says where', async () => {
  const state = await tempDir('fixity-debug-');
  const args = ['status', 'sha256:abcd', '--server', 'http://127.0.0.1:1', '--token', SECRET];
  const plain = await runCLI(args, { env: { XDG_STATE_HOME: state } });
  assert.equal(plain.code, 1);
  assert.doesNotMatch(plain.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(plain.stderr, /debug log/);

  for (const [extra, env] of [
    [['--debug'], {}],
    [[], { FIXITY_DEBUG: '1' }],
  ] as const) {
    const r = await runCLI([...args, ...extra], { env: { XDG_STATE_HOME: state, ...env } });
    assert.equal(r.code, 1);
    const path = /^debug log: (.+)$/m.exec(r.stderr)?.[1] ?? '';
    assert.ok(path.startsWith(join(state, 'fixity', 'debug')), r.stderr);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const log = await readFile(path, 'utf8');
    assert.match(log, /^error \[UNREACHABLE\]:\nClientError: Cannot reach the Fixity server/m);
    assert.match(log, /\n {4}at /, 'the stack');
    assert.match(log, /^cause 1:/m);
    assert.ok(!log.includes(SECRET), 'the token is not in the log');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'still no stack on stderr');
  }
  // With a machine format the error stays one JSON line, naming the log.
  const json = await runCLI([...args, '--debug', '-o', 'json'], { env: { XDG_STATE_HOME: state } });
  const lines = json.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, json.stderr);
  const error = (JSON.parse(lines[0]!) as { error: { code: string; debugLog: string } }).error;
  assert.equal(error.code, 'UNREACHABLE');
  assert.ok(error.debugLog.startsWith(join(state, 'fixity', 'debug')));
});
