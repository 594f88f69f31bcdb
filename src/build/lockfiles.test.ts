import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EvidenceError } from './evidence-error.ts';
import { findPackages, type PackagedFile, type PackageRecord } from './lockfiles.ts';

const root = await mkdtemp(join(tmpdir(), 'fixity-lockfiles-'));
after(() => rm(root, { recursive: true, force: true }));

let staged = 0;
/** Writes image files to a fresh host folder and lists them as a layer would. */
async function stage(files: Record<string, string | object>): Promise<PackagedFile[]> {
  const dir = join(root, String(staged++));
  return Promise.all(
    Object.entries(files).map(async ([path, content]) => {
      const source = join(dir, path);
      await mkdir(dirname(source), { recursive: true });
      await writeFile(source, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return { path, source };
    }),
  );
}

const sri = (seed: string) => `sha512-${createHash('sha512').update(seed).digest('base64')}`;
const tarball = (name: string, version: string) =>
  `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;
const find = (records: PackageRecord[], name: string, version?: string) =>
  records.find((r) => r.name === name && (version === undefined || r.version === version));

const lockV3 = {
  name: 'shop',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'shop', version: '1.0.0', dependencies: { '@fastify/error': '^4.0.0', debug: '^4.3.4' } },
    'node_modules/@fastify/error': {
      version: '4.0.0',
      resolved: tarball('@fastify/error', '4.0.0'),
      integrity: sri('@fastify/error@4.0.0'),
      license: 'MIT',
    },
    'node_modules/debug': {
      version: '4.3.4',
      resolved: tarball('debug', '4.3.4'),
      integrity: sri('debug@4.3.4'),
      license: 'MIT',
      dependencies: { ms: '2.1.2' },
    },
    'node_modules/debug/node_modules/ms': {
      version: '2.1.2',
      resolved: tarball('ms', '2.1.2'),
      integrity: sri('ms@2.1.2'),
      license: 'MIT',
    },
    'node_modules/ms': {
      version: '2.1.3',
      resolved: tarball('ms', '2.1.3'),
      integrity: sri('ms@2.1.3'),
      license: 'MIT',
    },
    'node_modules/string-width': { version: '5.1.2', license: 'MIT' },
    'node_modules/cliui/node_modules/string-width': { version: '5.1.2', license: 'MIT' },
    'node_modules/typescript': { version: '5.4.5', dev: true, license: 'Apache-2.0' },
    'node_modules/left-pad': { version: '1.3.0', resolved: tarball('left-pad', '1.3.0') },
    'node_modules/old-style': { version: '0.1.0' },
    'node_modules/lodash-alias': { name: 'lodash', version: '4.17.21', license: 'MIT' },
    'packages/admin': { name: '@shop/admin', version: '0.0.1' },
    'node_modules/@shop/admin': { resolved: 'packages/admin', link: true },
  },
};

describe('findPackages()', () => {
  test('findPackages() reads an npm lockfileVersion 3 packages map with scoped, nested and aliased packages', async () => {
    const records = await findPackages(await stage({ '/app/package-lock.json': lockV3 }));
    const scoped = find(records, '@fastify/error')!;
    assert.deepEqual(scoped, {
      ecosystem: 'npm',
      name: '@fastify/error',
      version: '4.0.0',
      license: 'MIT',
      purl: 'pkg:npm/%40fastify/error@4.0.0',
      resolved: tarball('@fastify/error', '4.0.0'),
      integrity: sri('@fastify/error@4.0.0'),
      dev: false,
      lockfile: '/app/package-lock.json',
    });
    assert.equal(find(records, 'ms', '2.1.2')?.purl, 'pkg:npm/ms@2.1.2', 'nested node_modules entry');
    assert.equal(find(records, 'ms', '2.1.3')?.purl, 'pkg:npm/ms@2.1.3');
    assert.equal(find(records, 'lodash')?.version, '4.17.21', 'an alias is recorded under its real name');
    assert.equal(find(records, 'typescript')?.dev, true);
    assert.equal(records.filter((r) => r.name === 'string-width').length, 1, 'one record per package version');
    assert.equal(find(records, '@shop/admin'), undefined, 'workspace folders and links are the project itself');
  });

  test('findPackages() takes a missing license from the packaged package.json, in both legacy forms', async () => {
    const records = await findPackages(
      await stage({
        '/app/package-lock.json': lockV3,
        '/app/node_modules/left-pad/package.json': { name: 'left-pad', version: '1.3.0', license: { type: 'WTFPL' } },
        '/app/node_modules/old-style/package.json': {
          name: 'old-style',
          licenses: [{ type: 'MIT', url: 'https://example.com/mit' }, { type: 'Apache-2.0' }],
        },
        // Every other package of the lock is installed too, so none is filtered out.
        ...Object.fromEntries(
          Object.keys(lockV3.packages)
            .filter(
              (key) =>
                key.includes('node_modules/') && !['left-pad', 'old-style', '@shop/admin'].some((n) => key.endsWith(n)),
            )
            .map((key) => [`/app/${key}/package.json`, { name: key.split('node_modules/').at(-1), license: 'ISC' }]),
        ),
      }),
    );
    assert.equal(find(records, 'left-pad')?.license, 'WTFPL');
    assert.equal(find(records, 'old-style')?.license, 'MIT OR Apache-2.0');
    assert.equal(find(records, 'debug')?.license, 'MIT', 'the lock entry license wins over package.json');
  });

  test('findPackages() keeps only installed packages when node_modules is packaged beside the lock file', async () => {
    const records = await findPackages(
      await stage({
        '/srv/package-lock.json': lockV3,
        '/srv/node_modules/debug/package.json': { name: 'debug', version: '4.3.4' },
        '/srv/node_modules/debug/node_modules/ms/package.json': { name: 'ms', version: '2.1.2' },
        '/srv/node_modules/@fastify/error/package.json': { name: '@fastify/error', version: '4.0.0' },
      }),
    );
    assert.deepEqual(
      records.map((r) => `${r.name}@${r.version}`),
      ['@fastify/error@4.0.0', 'debug@4.3.4', 'ms@2.1.2'],
    );
  });

  test('findPackages() with sourceOf asks it for the host path of only the files it reads', async () => {
    const staged = await stage({
      '/srv/package-lock.json': lockV3,
      '/srv/node_modules/debug/package.json': { name: 'debug', version: '4.3.4' },
      '/srv/node_modules/left-pad/package.json': { name: 'left-pad', version: '1.3.0', license: 'WTFPL' },
      '/srv/node_modules/left-pad/index.js': 'module.exports = 0;',
    });
    const asked: string[] = [];
    const records = await findPackages(
      staged.map(({ path }) => ({ path })),
      ({ path }) => {
        asked.push(path);
        return staged.find((f) => f.path === path)!.source;
      },
    );
    assert.deepEqual(
      records.map((r) => `${r.name}@${r.version} ${r.license}`),
      ['debug@4.3.4 MIT', 'left-pad@1.3.0 WTFPL'],
    );
    assert.deepEqual(asked.sort(), ['/srv/node_modules/left-pad/package.json', '/srv/package-lock.json']);
  });

  test('findPackages() reads an npm lockfileVersion 2 lock from its packages map, not its legacy tree', async () => {
    const lock = {
      name: 'api',
      lockfileVersion: 2,
      packages: { '': { name: 'api' }, 'node_modules/pino': { version: '9.0.0', license: 'MIT' } },
      dependencies: { 'pino-legacy-view': { version: '8.0.0' } },
    };
    const records = await findPackages(await stage({ '/app/package-lock.json': lock }));
    assert.deepEqual(
      records.map((r) => r.purl),
      ['pkg:npm/pino@9.0.0'],
    );
  });

  test('findPackages() walks an npm lockfileVersion 1 dependencies tree with nested, aliased and git entries', async () => {
    const commit = '0123456789abcdef0123456789abcdef01234567';
    const lock = {
      name: 'legacy',
      version: '1.0.0',
      lockfileVersion: 1,
      requires: true,
      dependencies: {
        '@types/node': {
          version: '20.1.0',
          resolved: tarball('@types/node', '20.1.0'),
          integrity: sri('tn'),
          dev: true,
        },
        express: {
          version: '4.18.2',
          resolved: tarball('express', '4.18.2'),
          integrity: sri('express'),
          requires: { debug: '2.6.9' },
          dependencies: { debug: { version: '2.6.9', resolved: tarball('debug', '2.6.9'), integrity: sri('d2') } },
        },
        debug: { version: '4.3.4', resolved: tarball('debug', '4.3.4'), integrity: sri('d4') },
        underscore: { version: 'npm:lodash@4.17.21', resolved: tarball('lodash', '4.17.21') },
        'from-git': { version: `git+https://github.com/acme/from-git.git#${commit}`, from: 'github:acme/from-git' },
      },
    };
    const records = await findPackages(
      await stage({
        '/legacy/package-lock.json': lock,
        '/legacy/node_modules/express/node_modules/debug/package.json': { name: 'debug', license: 'MIT' },
        '/legacy/node_modules/express/package.json': { name: 'express', license: 'MIT' },
        '/legacy/node_modules/debug/package.json': { name: 'debug', license: 'MIT' },
        '/legacy/node_modules/@types/node/package.json': { name: '@types/node', license: 'MIT' },
        '/legacy/node_modules/underscore/package.json': { name: 'lodash', license: 'MIT' },
        '/legacy/node_modules/from-git/package.json': { name: 'from-git', license: 'BSD-3-Clause' },
      }),
    );
    assert.deepEqual(
      records.map((r) => [r.purl, r.license, r.dev]),
      [
        ['pkg:npm/%40types/node@20.1.0', 'MIT', true],
        ['pkg:npm/debug@2.6.9', 'MIT', false],
        ['pkg:npm/debug@4.3.4', 'MIT', false],
        ['pkg:npm/express@4.18.2', 'MIT', false],
        [`pkg:npm/from-git@${commit}`, 'BSD-3-Clause', false],
        ['pkg:npm/lodash@4.17.21', 'MIT', false],
      ],
    );
    assert.equal(find(records, 'from-git')?.resolved, `git+https://github.com/acme/from-git.git#${commit}`);
  });

  test('findPackages() reads composer.lock packages and packages-dev with license alternatives', async () => {
    const shasum = createHash('sha1').update('monolog').digest('hex');
    const lock = {
      _readme: ['This file locks the dependencies of your project to a known state'],
      'content-hash': 'e3b0c44298fc1c149afbf4c8996fb924',
      packages: [
        {
          name: 'monolog/monolog',
          version: '3.5.0',
          source: {
            type: 'git',
            url: 'https://github.com/Seldaek/monolog.git',
            reference: 'c915e2634718dbc8a4a15c61b0e62e7a44e14448',
          },
          dist: {
            type: 'zip',
            url: 'https://api.github.com/repos/Seldaek/monolog/zipball/c915e26',
            reference: 'c915e26',
            shasum,
          },
          require: { php: '>=8.1' },
          license: ['MIT'],
        },
        {
          name: 'symfony/polyfill-mbstring',
          version: 'v1.29.0',
          source: { type: 'git', url: 'https://github.com/symfony/polyfill-mbstring.git', reference: '9773676' },
          dist: {
            type: 'zip',
            url: 'https://api.github.com/repos/symfony/polyfill-mbstring/zipball/9773676',
            shasum: '',
          },
          license: ['MIT', 'GPL-2.0-or-later'],
        },
      ],
      'packages-dev': [
        {
          name: 'phpunit/phpunit',
          version: '10.5.10',
          source: { type: 'git', url: 'https://github.com/sebastianbergmann/phpunit.git' },
          license: ['BSD-3-Clause'],
        },
      ],
      'platform-dev': [],
    };
    const records = await findPackages(await stage({ '/var/www/composer.lock': lock }));
    assert.deepEqual(records, [
      {
        ecosystem: 'composer',
        name: 'monolog/monolog',
        version: '3.5.0',
        license: 'MIT',
        purl: 'pkg:composer/monolog/monolog@3.5.0',
        resolved: 'https://api.github.com/repos/Seldaek/monolog/zipball/c915e26',
        integrity: `sha1-${Buffer.from(shasum, 'hex').toString('base64')}`,
        dev: false,
        lockfile: '/var/www/composer.lock',
      },
      {
        ecosystem: 'composer',
        name: 'phpunit/phpunit',
        version: '10.5.10',
        license: 'BSD-3-Clause',
        purl: 'pkg:composer/phpunit/phpunit@10.5.10',
        resolved: 'https://github.com/sebastianbergmann/phpunit.git',
        integrity: null,
        dev: true,
        lockfile: '/var/www/composer.lock',
      },
      {
        ecosystem: 'composer',
        name: 'symfony/polyfill-mbstring',
        version: 'v1.29.0',
        license: 'MIT OR GPL-2.0-or-later',
        purl: 'pkg:composer/symfony/polyfill-mbstring@v1.29.0',
        resolved: 'https://api.github.com/repos/symfony/polyfill-mbstring/zipball/9773676',
        integrity: null,
        dev: false,
        lockfile: '/var/www/composer.lock',
      },
    ]);
  });

  test('findPackages() reads only the pinned entries of requirements.txt', async () => {
    const hash = createHash('sha256').update('django').digest('hex');
    const text = [
      '# generated by pip-compile',
      `Django==4.2.7 \\`,
      `    --hash=sha256:${hash}`,
      'requests[security]==2.31.0 ; python_version >= "3.8"  # via app',
      'flask>=2.0',
      '-r base.txt',
      '-e git+https://github.com/acme/lib.git#egg=lib',
      'ruamel.yaml===0.18.5',
      '',
    ].join('\n');
    const records = await findPackages(await stage({ '/app/requirements.txt': text }));
    assert.deepEqual(
      records.map((r) => [r.name, r.version, r.purl, r.license, r.integrity]),
      [
        ['Django', '4.2.7', 'pkg:pypi/django@4.2.7', null, `sha256-${Buffer.from(hash, 'hex').toString('base64')}`],
        ['requests', '2.31.0', 'pkg:pypi/requests@2.31.0', null, null],
        ['ruamel.yaml', '0.18.5', 'pkg:pypi/ruamel-yaml@0.18.5', null, null],
      ],
    );
  });

  test('findPackages() ignores lock files that dependencies ship inside node_modules and vendor', async () => {
    const records = await findPackages(
      await stage({
        '/app/node_modules/some-lib/package-lock.json': lockV3,
        '/app/vendor/acme/tool/composer.lock': { packages: [{ name: 'x/y', version: '1.0.0' }] },
      }),
    );
    assert.deepEqual(records, []);
  });

  test('findPackages() gives the same records in the same order whatever the file order', async () => {
    const files = await stage({
      '/b/package-lock.json': lockV3,
      '/a/composer.lock': {
        packages: [
          { name: 'z/z', version: '1.0.0' },
          { name: 'a/a', version: '2.0.0' },
        ],
      },
      '/c/requirements.txt': 'b==1\na==2\n',
    });
    const forward = await findPackages(files);
    const backward = await findPackages([...files].reverse());
    assert.deepEqual(backward, forward);
    assert.deepEqual([...new Set(forward.map((r) => r.ecosystem))], ['composer', 'npm', 'pypi']);
  });

  test('findPackages() throws LOCKFILE_INVALID naming the file when a lock file is not JSON', async () => {
    const files = await stage({ '/app/package-lock.json': '{ "lockfileVersion": 3, "packages": {' });
    await assert.rejects(findPackages(files), (err: unknown) => {
      assert.ok(err instanceof EvidenceError);
      assert.equal(err.code, 'LOCKFILE_INVALID');
      assert.match(err.message, /^Cannot parse lock file \/app\/package-lock\.json: not valid JSON/);
      return true;
    });
  });

  test('findPackages() throws LOCKFILE_INVALID when a lock file has the wrong shape', async () => {
    for (const [path, content, state] of [
      ['/app/package-lock.json', { lockfileVersion: 3, packages: [] }, '"packages" is not an object'],
      [
        '/app/package-lock.json',
        { lockfileVersion: 3, packages: { 'node_modules/a': 'x' } },
        'packages["node_modules/a"]',
      ],
      ['/app/composer.lock', { packages: { name: 'a/b' } }, '"packages" is not an array'],
      ['/app/composer.lock', { packages: [{ version: '1.0.0' }] }, 'packages[0] has no string "name"'],
      ['/app/package-lock.json', '[1, 2]', 'the top level is not a JSON object'],
    ] as const) {
      await assert.rejects(findPackages(await stage({ [path]: content })), (err: unknown) => {
        assert.ok(err instanceof EvidenceError && err.code === 'LOCKFILE_INVALID');
        assert.ok(err.message.includes(path) && err.message.includes(state), err.message);
        return true;
      });
    }
  });

  test('findPackages() leaves the license null when a packaged package.json is broken', async () => {
    const records = await findPackages(
      await stage({
        '/app/package-lock.json': { lockfileVersion: 3, packages: { 'node_modules/odd': { version: '1.0.0' } } },
        '/app/node_modules/odd/package.json': '{ not json',
      }),
    );
    assert.equal(records[0]?.license, null);
  });
});
