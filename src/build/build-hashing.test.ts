// build() reads each file once when it will pack every layer anyway (--no-cache, or an empty layer cache), and
// hashes first otherwise: both ways must give the same image, remember the same digests, and refuse secrets.
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { build } from './build.ts';
import { testBuildOptions } from './test-build-options.ts';

const FILES = 40;

describe('build() hashing files as it packs them', () => {
  let work: string;
  let src: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-hashing-test-'));
    src = join(work, 'src');
    await mkdir(join(src, 'lib'), { recursive: true });
    await writeFile(
      join(src, 'fixity.yaml'),
      'name: hashing-demo\nversion: 1.0.0\nbase: scratch\nlayers:\n  - from: .\n    to: /app\n    exclude: ["fixity.yaml"]\n',
    );
    for (let i = 0; i < FILES; i++) await writeFile(join(src, 'lib', `f${i}.js`), `exports.n = ${i};\n`.repeat(i));
    await writeFile(join(src, 'big.bin'), Buffer.alloc(3 << 20, 'big ')); // streamed through the pack
    await link(join(src, 'lib', 'f1.js'), join(src, 'lib', 'same.js'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const options = (cacheDir: string, noCache = false) => testBuildOptions(src, cacheDir, noCache);
  const rememberedFiles = async (cacheDir: string) => {
    const [name] = await readdir(join(cacheDir, 'files'));
    const { entries } = JSON.parse(await readFile(join(cacheDir, 'files', name!), 'utf8')) as { entries: string[][] };
    return entries.map(([path, , hex]) => `${path} ${hex}`).sort();
  };

  test('build() gives the same image and evidence whether it hashes while packing or before', async () => {
    const cold = await build(options(join(work, 'cold'), true)); // --no-cache: hashed while packing
    const cacheDir = join(work, 'cache');
    const filled = await build(options(cacheDir)); // empty cache: hashed while packing, digests remembered
    const remembered = await rememberedFiles(cacheDir);
    assert.equal(remembered.length, FILES + 1, 'every file but the hardlink, remembered by the packing build');
    await rm(join(cacheDir, 'files'), { recursive: true });
    const hashedFirst = await build(options(cacheDir)); // layers cached: every file hashed first, the layer found
    assert.deepEqual(await rememberedFiles(cacheDir), remembered, 'the same digests as the packing build kept');
    await rm(join(cacheDir, 'layers'), { recursive: true });
    const known = await build(options(cacheDir)); // digests remembered, no layer: packed and checked
    for (const result of [filled, hashedFirst, known]) {
      assert.equal(result.digest, cold.digest, 'image');
      assert.equal(result.sbom.digest, cold.sbom.digest, 'SBOM');
      assert.equal(result.sourceTreeDigest, cold.sourceTreeDigest, 'source tree');
    }
    assert.deepEqual(
      [cold, filled, hashedFirst, known].map((r) => r.layers[0]!.cached),
      [false, false, true, false],
    );
    const files = (cold.sbom.statement as { predicate: { files: Array<{ fileName: string }> } }).predicate.files;
    assert.equal(files.length, FILES + 2, 'every file and the hardlink, with its digest, in the SBOM');
  });

  test('build() refuses a packaged secret whether it hashes while packing or before, and keeps no layer that holds it', async () => {
    const leaky = join(work, 'leaky');
    await mkdir(leaky);
    await writeFile(
      join(leaky, 'fixity.yaml'),
      'name: leaky\nversion: 1.0.0\nbase: scratch\nlayers:\n  - from: .\n    to: /app\n',
    );
    const key = ['-----BEGIN', 'RSA PRIVATE KEY-----'].join(' ');
    await writeFile(join(leaky, 'a.js'), 'exports.a = 1;\n');
    await writeFile(
      join(leaky, 'key.js'),
      `// ok\nconst k = \`${key}\nMIIEowIBAAKCAQEAx${'A'.repeat(60)}\n-----END RSA PRIVATE KEY-----\`;\n`,
    );
    const cacheDir = join(work, 'leaky-cache');
    const refused = (err: unknown) => isErrorWithCode(err, 'SECRET_FOUND') && /key\.js:2/.test((err as Error).message);
    const layers = () => readdir(join(cacheDir, 'layers')).catch(() => []);
    await assert.rejects(build({ ...options(cacheDir, true), dir: leaky }), refused, '--no-cache');
    assert.deepEqual(await layers(), [], 'the layer packed with the secret was taken out of the cache');
    await assert.rejects(build({ ...options(cacheDir), dir: leaky }), refused, 'empty cache');
    assert.deepEqual(await layers(), [], 'again');
    await assert.rejects(build({ ...options(cacheDir), dir: leaky }), refused, 'again, with what that build kept');

    // Allowed, the layer is built and cached; once the allowlist goes, the same cached layer is refused again
    // (its key does not depend on the allowlist, and the scan runs before the cache is asked).
    const spec = await readFile(join(leaky, 'fixity.yaml'), 'utf8');
    await writeFile(join(leaky, 'fixity.yaml'), `${spec}secrets:\n  allow:\n    - { path: app/key.js }\n`);
    const allowed = await build({ ...options(cacheDir), dir: leaky });
    assert.equal(allowed.layers[0]!.cached, false);
    assert.equal((await layers()).length, 1);
    await writeFile(join(leaky, 'fixity.yaml'), spec);
    await assert.rejects(build({ ...options(cacheDir), dir: leaky }), refused, 'its layer cached');
  });
});
