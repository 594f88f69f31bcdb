import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';

const LAUNCHER = resolve(import.meta.dirname, '..', 'bin', 'fixity.js');
const cacheHome = mkdtempSync(join(tmpdir(), 'fixity-launcher-'));
after(() => rmSync(cacheHome, { recursive: true, force: true }));

const run = (node: string, args: string[], env: Record<string, string> = {}) => {
  const { NODE_COMPILE_CACHE: _, ...inherited } = process.env;
  return spawnSync(node, [LAUNCHER, ...args], {
    encoding: 'utf8',
    env: { ...inherited, XDG_CACHE_HOME: cacheHome, ...env },
  });
};

// The system `node` (what `npx fixity` finds first on PATH) may be older than 24: the launcher then runs the
// pinned Node in a child process; on 24 it runs the CLI in its own.
const systemNode = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v node'], {
      encoding: 'utf8',
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    }).trim();
  } catch {
    return null;
  }
})();

describe('bin/fixity.js', () => {
  for (const [label, node] of [
    ['on Node 24 (in process)', process.execPath],
    ['on the system node', systemNode],
  ] as const) {
    test(`${label}: prints the version, passes exit codes on, fills the per-user compile cache`, {
      skip: node === null,
    }, () => {
      const home = join(cacheHome, label.replace(/\W+/g, '-'));
      const version = run(node as string, ['--version'], { XDG_CACHE_HOME: home });
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
      const unknown = run(node as string, ['no-such-command']);
      assert.equal(unknown.status, 2);
      assert.match(unknown.stderr, /unknown command 'no-such-command'/);
      const compile = join(home, 'fixity', 'compile');
      assert.ok(existsSync(compile) && readdirSync(compile).length > 0, 'the compile cache is written');
    });
  }

  test('NODE_DISABLE_COMPILE_CACHE keeps the cache off', () => {
    const home = mkdtempSync(join(tmpdir(), 'fixity-launcher-off-'));
    try {
      const r = run(process.execPath, ['version', '--json'], { XDG_CACHE_HOME: home, NODE_DISABLE_COMPILE_CACHE: '1' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        JSON.parse(r.stdout).version,
        JSON.parse(run(process.execPath, ['version', '--json']).stdout).version,
      );
      assert.equal(existsSync(join(home, 'fixity', 'compile')), false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
