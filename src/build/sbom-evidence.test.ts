import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build } from './build.ts';
import { testBuildOptions } from './test-build-options.ts';

// A tree with a lock file (so the SBOM lists packages), nested directories, odd names and a hardlink-free
// spread of sizes: enough for every part of the SBOM and provenance to be written.
async function writeTree(dir: string): Promise<void> {
  await writeFile(
    join(dir, 'fixity.yaml'),
    'name: evidence-demo\nversion: 1.0.0\nbase: scratch\nlayers:\n  - from: .\n    to: /app\n    exclude: ["fixity.yaml"]\n',
  );
  const lock = {
    name: 'evidence-demo',
    version: '1.0.0',
    lockfileVersion: 3,
    packages: {
      '': { name: 'evidence-demo', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } },
      'node_modules/left-pad': {
        version: '1.3.0',
        resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
        integrity: 'sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQEBnHSMx4W6xzFDvYR3XVqd7U3CVYLJVwDhBQ5JFyTdKFcg==',
        license: 'WTFPL',
      },
    },
  };
  await writeFile(join(dir, 'package-lock.json'), JSON.stringify(lock));
  for (let d = 0; d < 20; d++) {
    const sub = join(dir, 'node_modules', `pkg-${d}`, d % 2 === 0 ? 'lib' : 'dist é');
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < 15; f++)
      await writeFile(join(sub, `file "${f}".js`), `module.exports = ${d * 100 + f};\n`.repeat(f));
  }
}

describe('build() evidence cache', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-evidence-test-'));
    await mkdir(join(work, 'src'));
    await writeTree(join(work, 'src'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const options = (cacheDir: string, noCache: boolean) => testBuildOptions(join(work, 'src'), cacheDir, noCache);

  test('build() gives a warm rebuild the same image and referrer digests as a build without cache', async () => {
    const cold = await build(options(join(work, 'none'), true));
    const cacheDir = join(work, 'cache');
    const prime = await build(options(cacheDir, false));
    const [entry] = await readdir(join(cacheDir, 'evidence'));
    const envelope = join(cacheDir, 'evidence', entry!, 'blob');
    const before = await stat(envelope);
    const warm = await build(options(cacheDir, false));
    for (const result of [prime, warm]) {
      assert.equal(result.digest, cold.digest, 'image');
      assert.equal(result.config.digest, cold.config.digest, 'config');
      assert.equal(result.sbom.digest, cold.sbom.digest, 'SBOM referrer');
      assert.equal(result.provenance.digest, cold.provenance.digest, 'provenance referrer');
    }
    const reused = await stat(envelope);
    assert.equal(reused.ino, before.ino, 'the warm build reused the cached envelope');
    assert.equal(reused.mtimeMs, before.mtimeMs);
    assert.deepEqual(warm.sbom.statement, cold.sbom.statement, 'the statement read back from the envelope');
    const files = (cold.sbom.statement as { predicate: { files: unknown[] } }).predicate.files;
    assert.equal(files.length, 20 * 15 + 1);
    assert.deepEqual(await readdir(join(work, 'none')), ['layers'], 'a --no-cache build keeps no envelope');
  });
});
