// Progress on stderr (CLI style rule 8), for a build of examples/hello with its stderr piped, as in CI: plain
// by default there (a timestamped line per step state, with the final numbers), json as NDJSON, quiet
// silent, nothing under -o json unless a mode is named, and an unknown mode is a usage error.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ROOT, runCLI, tempDir } from './support/server-process.ts';

const HELLO = join(ROOT, 'examples', 'hello');

describe('build progress on stderr', () => {
  let cache: string;
  before(async () => {
    cache = await tempDir('fixity-progress-');
  });
  const build = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCLI(['build', HELLO, '--no-cache', ...args], { env: { XDG_CACHE_HOME: cache, ...env } });

  test('plain where stderr is no terminal: a line per state change, stdout untouched', async () => {
    const r = await build([]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^\d\d:\d\d:\d\d layer 0 … \d+ files/m);
    assert.match(r.stderr, /^\d\d:\d\d:\d\d layer 0 done \d+ files [\d.]+ KiB → \d+ B$/m);
    assert.equal(r.stderr.match(/ layer 0 done /g)?.length, 1, 'each state once');
    assert.doesNotMatch(r.stdout, /^\d\d:\d\d:\d\d /m, 'no progress on stdout');
  });

  test('json is NDJSON; quiet is silent; -o json alone shows none', async () => {
    const json = await build(['--progress', 'json', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const events = json.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; key: string; line: string; ts: string });
    assert.ok(events.length >= 2);
    assert.ok(events.every((e) => e.type === 'progress' && e.key === 'layer0' && !Number.isNaN(Date.parse(e.ts))));
    assert.match(events.at(-1)!.line, /layer 0 {2}done/);
    assert.equal((JSON.parse(json.stdout) as { kind: string }).kind, 'Build');
    assert.doesNotMatch((await build([], { FIXITY_PROGRESS: 'quiet' })).stderr, /layer/);
    assert.doesNotMatch((await build(['-o', 'json'])).stderr, /layer/);
  });

  test('an unknown mode is a usage error', async () => {
    const r = await build(['--progress', 'fancy']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the modes are auto, tty, plain, json, quiet/);
  });
});
