// The secret scan's verdicts ride with the remembered digests: an unchanged file found clean is neither read
// nor looked up in the scan memo again, and a verdict of another scanner version is not trusted.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { build } from './build.ts';
import { testBuildOptions } from './test-build-options.ts';

const KEY = `${['-----BEGIN', 'RSA PRIVATE KEY-----'].join(' ')}\nMIIEowIBAAKCAQEAx${'A'.repeat(60)}\n-----END RSA PRIVATE KEY-----\n`;

describe('build() scan verdicts in the digest cache', () => {
  let work: string;
  let src: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-verdicts-test-'));
    src = join(work, 'src');
    await mkdir(join(src, 'app'), { recursive: true });
    await writeFile(
      join(src, 'fixity.yaml'),
      'name: verdicts\nversion: 1.0.0\nbase: scratch\nlayers:\n  - { from: app, to: /app }\n' +
        'secrets:\n  allow:\n    - { path: app/allowed.pem, rule: private-key }\n',
    );
    for (let i = 0; i < 5; i++) await writeFile(join(src, 'app', `f${i}.js`), `exports.n = ${i};\n`);
    await writeFile(join(src, 'app', 'allowed.pem'), KEY);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const options = (cacheDir: string) => testBuildOptions(src, cacheDir);
  const digestCache = async (cacheDir: string) => {
    const [name] = await readdir(join(cacheDir, 'files'));
    const path = join(cacheDir, 'files', name!);
    return { path, stored: JSON.parse(await readFile(path, 'utf8')) as { scanner: string; entries: unknown[][] } };
  };
  const verdicts = (stored: { entries: unknown[][] }) =>
    Object.fromEntries(stored.entries.map((row) => [row[0], row[4]]).sort());

  test('build() remembers clean files, needs no scan memo while they are unchanged, and rescans under another scanner', async () => {
    const cacheDir = join(work, 'cache');
    const first = await build(options(cacheDir));
    const { path, stored } = await digestCache(cacheDir);
    assert.deepEqual(verdicts(stored), {
      'allowed.pem': 0, // allowed, not clean: scanned again by every build, and still allowed
      'f0.js': 1,
      'f1.js': 1,
      'f2.js': 1,
      'f3.js': 1,
      'f4.js': 1,
    });

    // Without the memo, only the file with a finding is scanned again; the clean ones are not, so no memo of
    // clean contents is written.
    await rm(join(cacheDir, 'secrets'), { recursive: true });
    const second = await build(options(cacheDir));
    assert.equal(second.digest, first.digest);
    assert.deepEqual(await readdir(join(cacheDir, 'secrets')).catch(() => []), []);

    // Verdicts written under another scanner are not trusted: every file is scanned, and found clean again.
    await writeFile(
      path,
      JSON.stringify({
        ...stored,
        scanner: 'an older scanner',
        entries: stored.entries.map((r) => [...r.slice(0, 4), 1]),
      }),
    );
    // allowed.pem, unchanged and now marked clean by that scanner, is scanned: without its allowlist, refused.
    const spec = await readFile(join(src, 'fixity.yaml'), 'utf8');
    await writeFile(join(src, 'fixity.yaml'), spec.slice(0, spec.indexOf('secrets:')));
    await assert.rejects(
      build(options(cacheDir)),
      (err) => isErrorWithCode(err, 'SECRET_FOUND') && (err as Error).message.includes('app/allowed.pem'),
    );
    await writeFile(join(src, 'fixity.yaml'), spec);
    await build(options(cacheDir));
    const after = await digestCache(cacheDir);
    assert.notEqual(after.stored.scanner, 'an older scanner');
    assert.deepEqual(verdicts(after.stored), verdicts(stored));
  });
});
