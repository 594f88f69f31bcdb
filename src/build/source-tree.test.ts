import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  link,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createManualClock, isErrorWithCode, systemClock } from '../core/index.ts';
import { type DigestCache, openDigestCache } from './digest-cache.ts';
import { collectLayer, type FileEntry, sourcePath } from './source-tree.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fixity-tree-'));
  dirs.push(dir);
  return dir;
}

/** Writes `files` (path → content, or `{ mode }` for a directory) under a fresh directory. */
function tree(files: Record<string, string | { mode: number }>, root = tempDir()): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    if (typeof content === 'string') {
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, content);
    } else mkdirSync(full, { recursive: true, mode: content.mode });
  }
  return root;
}

const paths = (entries: FileEntry[]) => entries.map((e) => `${e.path}${e.type === 'directory' ? '/' : ''}`);
const byPath = (entries: FileEntry[], path: string) => entries.find((e) => e.path === path)!;

describe('collectLayer()', () => {
  test('collectLayer() sorts entries bytewise and adds every parent directory when to is nested', async () => {
    const from = tree({ 'a/x': '1', 'a-b': '2', B: '3', 'é/f': '4', 'a/y/z': '5' });
    const entries = await collectLayer({ from, to: '/opt/app/' });
    assert.deepEqual(paths(entries), [
      'opt/',
      'opt/app/',
      'opt/app/B',
      'opt/app/a/',
      'opt/app/a-b',
      'opt/app/a/x',
      'opt/app/a/y/',
      'opt/app/a/y/z',
      'opt/app/é/',
      'opt/app/é/f',
    ]);
  });

  test('collectLayer() puts entries at the image root without a root entry when to is /', async () => {
    const entries = await collectLayer({ from: tree({ 'etc/motd': 'hi' }), to: '/' });
    assert.deepEqual(paths(entries), ['etc/', 'etc/motd']);
  });

  test('collectLayer() normalises modes to 0755 and 0644 when host modes vary', async () => {
    const from = tree({ 'd/': { mode: 0o700 }, 'd/secret': 'x', 'run.sh': '#!', 'lib.js': 'x', all: 'x' });
    chmodSync(join(from, 'd/secret'), 0o600);
    chmodSync(join(from, 'run.sh'), 0o700);
    chmodSync(join(from, 'lib.js'), 0o640);
    chmodSync(join(from, 'all'), 0o4777);
    const entries = await collectLayer({ from, to: '/app' });
    const mode = (p: string) => byPath(entries, `app/${p}`).mode;
    assert.deepEqual(
      [mode('d'), mode('d/secret'), mode('run.sh'), mode('lib.js'), mode('all')],
      [0o755, 0o644, 0o755, 0o644, 0o755],
    );
    assert.equal(byPath(entries, 'app').mode, 0o755);
  });

  test('collectLayer() applies the last matching modes glob when several match', async () => {
    const from = tree({ 'bin/tool': 'x', 'bin/readme': 'x', key: 'x' });
    const modes = { 'bin/*': 0o755, 'bin/readme': 0o444, key: 0, 'bin/': 0o711 };
    const entries = await collectLayer({ from, to: '/app', modes });
    assert.equal(byPath(entries, 'app/bin/tool').mode, 0o755);
    assert.equal(byPath(entries, 'app/bin/readme').mode, 0o444);
    assert.equal(byPath(entries, 'app/key').mode, 0);
    assert.equal(byPath(entries, 'app/bin').mode, 0o711);
  });

  test('collectLayer() owns to and everything below it by uid and gid when they are set', async () => {
    const entries = await collectLayer({ from: tree({ 'a/b': 'x' }), to: '/srv/app' }, { uid: 1000, gid: 2000 });
    assert.deepEqual(
      entries.map((e) => [e.path, e.uid, e.gid]),
      [
        ['srv', 0, 0],
        ['srv/app', 1000, 2000],
        ['srv/app/a', 1000, 2000],
        ['srv/app/a/b', 1000, 2000],
      ],
    );
  });

  test('collectLayer() keeps only included paths and prunes excluded directories when globs are given', async () => {
    const from = tree({
      'src/a.js': '1',
      'src/a.test.js': '2',
      'src/b.ts': '3',
      'top.js': '4',
      'assets/img/x.png': '5',
      'empty/': { mode: 0o755 },
      'node_modules/m/index.js': '6',
    });
    execFileSync('mkfifo', [join(from, 'node_modules/pipe')]); // never looked at: its directory is excluded
    const entries = await collectLayer({
      from,
      to: '/app',
      include: ['**/*.js', 'assets/'],
      exclude: ['node_modules/', '**/*.test.js'],
    });
    assert.deepEqual(paths(entries), [
      'app/',
      'app/assets/',
      'app/assets/img/',
      'app/assets/img/x.png',
      'app/src/',
      'app/src/a.js',
      'app/top.js',
    ]);
  });

  test('collectLayer() leaves out .git and .fixity at the top unless include names them', async () => {
    const from = tree({
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.fixity/fixity.db': 'db',
      '.github/ci.yml': 'ci',
      'lib/.git/x': 'a submodule-like dir below the top stays',
      'server.js': 'js',
    });
    assert.deepEqual(paths(await collectLayer({ from, to: '/app' })), [
      'app/',
      'app/.github/',
      'app/.github/ci.yml',
      'app/lib/',
      'app/lib/.git/',
      'app/lib/.git/x',
      'app/server.js',
    ]);
    assert.deepEqual(paths(await collectLayer({ from, to: '/app', include: ['.git/**', 'server.js'] })), [
      'app/',
      'app/.git/',
      'app/.git/HEAD',
      'app/server.js',
    ]);
  });

  test('collectLayer() hashes file contents and records sizes and sources', async () => {
    const from = tree({ 'f.txt': 'hello\n', empty: '' });
    const entries = await collectLayer({ from, to: '/app' });
    const f = byPath(entries, 'app/f.txt');
    assert.equal(f.digest, `sha256:${createHash('sha256').update('hello\n').digest('hex')}`);
    assert.equal(f.sha1, createHash('sha1').update('hello\n').digest('hex'));
    assert.equal(f.size, 6);
    assert.equal(sourcePath(f), join(from, 'f.txt'));
    assert.equal(byPath(entries, 'app/empty').digest, `sha256:${createHash('sha256').digest('hex')}`);
    assert.equal(byPath(entries, 'app/empty').sha1, createHash('sha1').digest('hex'));
    assert.equal(byPath(entries, 'app').digest, null);
    assert.equal(byPath(entries, 'app').sha1, null);
  });

  test('sourcePath() gives the host path of every file and hardlink, whatever to is, and throws for others', async () => {
    const from = tree({ 'a/é 東/ü.txt': 'x', 'a/b.txt': 'y', top: 'z' });
    await promisify(link)(join(from, 'top'), join(from, 'z-link'));
    const host = (entries: FileEntry[]) =>
      entries.filter((e) => e.source !== null).map((e) => [e.path, e.type, sourcePath(e)]);
    const files = [
      ['a/b.txt', 'file', join(from, 'a/b.txt')],
      ['a/é 東/ü.txt', 'file', join(from, 'a/é 東/ü.txt')],
      ['top', 'file', join(from, 'top')],
      ['z-link', 'hardlink', join(from, 'z-link')],
    ];
    assert.deepEqual(host(await collectLayer({ from, to: '/' })), files);
    const nested = await collectLayer({ from, to: '/opt/my app/' });
    assert.deepEqual(
      host(nested),
      files.map(([path, ...rest]) => [`opt/my app/${path}`, ...rest]),
    );
    const dir = byPath(nested, 'opt/my app/a');
    assert.equal(dir.source, null);
    assert.throws(() => sourcePath(dir), /Cannot read opt\/my app\/a: it is a directory, not a file/);
  });

  test('collectLayer() lists nothing but the to directories when from is empty', async () => {
    assert.deepEqual(paths(await collectLayer({ from: tempDir(), to: '/' })), []);
    assert.deepEqual(paths(await collectLayer({ from: tempDir(), to: '/srv/x' })), ['srv/', 'srv/x/']);
  });

  test('collectLayer() gives a file read in chunks (over 8 MiB) the same SHA-256 and SHA-1 as one read whole', async () => {
    const big = Buffer.alloc((9 << 20) + 7, 'fixity');
    const from = tempDir();
    writeFileSync(join(from, 'big.bin'), big);
    const f = byPath(await collectLayer({ from, to: '/' }), 'big.bin');
    assert.equal(f.digest, `sha256:${createHash('sha256').update(big).digest('hex')}`);
    assert.equal(f.sha1, createHash('sha1').update(big).digest('hex'));
    assert.equal(f.size, big.byteLength);
  });

  test('collectLayer() stores a file once and later paths as hardlinks when they share an inode', async () => {
    const from = tree({ 'b/data': 'same bytes' });
    await promisify(link)(join(from, 'b/data'), join(from, 'a-copy'));
    await promisify(link)(join(from, 'b/data'), join(from, 'c'));
    const entries = await collectLayer({ from, to: '/app' });
    const [first, ...links] = ['app/a-copy', 'app/b/data', 'app/c'].map((p) => byPath(entries, p));
    assert.equal(first!.type, 'file');
    for (const l of links) {
      assert.equal(l!.type, 'hardlink');
      assert.equal(l!.linkname, 'app/a-copy');
      assert.equal(l!.digest, first!.digest);
      assert.equal(l!.sha1, createHash('sha1').update('same bytes').digest('hex'));
    }
  });

  test('collectLayer() keeps a symlink with its target text and does not follow it when it points inside from', async () => {
    const from = tree({ 'lib/real/x.js': 'x' });
    symlinkSync('real', join(from, 'lib/current'));
    symlinkSync('../lib/real/x.js', join(from, 'lib/real/self'));
    symlinkSync('missing-but-inside', join(from, 'dangling'));
    const entries = await collectLayer({ from, to: '/app' });
    assert.deepEqual(
      entries.filter((e) => e.type === 'symlink').map((e) => [e.path, e.linkname, e.mode]),
      [
        ['app/dangling', 'missing-but-inside', 0o777],
        ['app/lib/current', 'real', 0o777],
        ['app/lib/real/self', '../lib/real/x.js', 0o777],
      ],
    );
    assert.ok(!entries.some((e) => e.path.startsWith('app/lib/current/')));
  });

  test('collectLayer() throws SOURCE_ESCAPE naming the link when a symlink leaves from', async () => {
    const cases: Array<[string, (from: string) => void]> = [
      ['relative', (from) => symlinkSync('../../etc/passwd', join(from, 'sub/link'))],
      ['absolute', (from) => symlinkSync('/etc/passwd', join(from, 'sub/link'))],
      // lexically inside, but `dot` resolves to from itself on the host, so `dot/..` is its parent
      [
        'through another link',
        (from) => {
          symlinkSync('..', join(from, 'sub/dot'));
          symlinkSync('dot/../..', join(from, 'sub/link'));
        },
      ],
    ];
    for (const [name, make] of cases) {
      const from = tree({ 'sub/f': 'x' });
      make(from);
      await assert.rejects(
        collectLayer({ from, to: '/app' }),
        (err) => isErrorWithCode(err, 'SOURCE_ESCAPE') && err.message.includes(join(from, 'sub/link')),
        name,
      );
    }
  });

  test('collectLayer() throws LAYER_INVALID when to or a glob climbs with ..', async () => {
    const from = tree({ f: 'x' });
    for (const layer of [
      { from, to: '/app/../etc' },
      { from, to: 'app' },
      { from, to: '/app', include: ['../x'] },
      { from, to: '/app', exclude: ['/abs'] },
      { from, to: '/app', modes: { '../*': 0o755 } },
      { from, to: '/app', modes: { f: 0o10000 } },
      { from: 'relative/dir', to: '/app' },
    ]) {
      await assert.rejects(collectLayer(layer), (err) => isErrorWithCode(err, 'LAYER_INVALID'), JSON.stringify(layer));
    }
  });

  test('collectLayer() throws NAME_INVALID when a file name is not UTF-8', async () => {
    const from = tree({ 'ok.txt': 'x' });
    writeFileSync(Buffer.concat([Buffer.from(`${from}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    await assert.rejects(
      collectLayer({ from, to: '/app' }),
      (err) => isErrorWithCode(err, 'NAME_INVALID') && err.message.includes('bad-\\xff\\xfe'),
    );
  });

  test('collectLayer() keeps a valid name that holds U+FFFD itself (what a name that is not UTF-8 reads as)', async () => {
    const from = tree({ 'a\uFFFDb.txt': 'x', 'sub/c\uFFFD.txt': 'y' });
    const entries = await collectLayer({ from, to: '/app' });
    assert.deepEqual(
      entries.filter((e) => e.type === 'file').map((e) => e.path),
      ['app/a\uFFFDb.txt', 'app/sub/c\uFFFD.txt'],
    );
  });

  test('collectLayer() throws NAME_INVALID when a symlink target is not UTF-8', async () => {
    const from = tree({ 'ok.txt': 'x' });
    symlinkSync(Buffer.from([0x61, 0xc3]), join(from, 'link'));
    await assert.rejects(
      collectLayer({ from, to: '/app' }),
      (err) => isErrorWithCode(err, 'NAME_INVALID') && err.message.includes(join(from, 'link')),
    );
  });

  test('collectLayer() throws SOURCE_UNSUPPORTED naming the file when a FIFO is included', async () => {
    const from = tree({ 'ok.txt': 'x' });
    execFileSync('mkfifo', [join(from, 'pipe')]);
    await assert.rejects(
      collectLayer({ from, to: '/app' }),
      (err) => isErrorWithCode(err, 'SOURCE_UNSUPPORTED') && /pipe: it is a FIFO/.test(err.message),
    );
  });

  test('collectLayer() throws SOURCE_UNREADABLE when from is not a directory', async () => {
    const from = tree({ f: 'x' });
    for (const bad of [join(from, 'f'), join(from, 'missing')]) {
      await assert.rejects(collectLayer({ from: bad, to: '/app' }), (err) => isErrorWithCode(err, 'SOURCE_UNREADABLE'));
    }
  });

  test('collectLayer() throws SOURCE_UNREADABLE naming the path when a file or directory cannot be read', async () => {
    // Root reads mode-000 files, so as root the check runs without capabilities (setpriv, util-linux):
    // still uid 0, so a checkout in a 0700 directory (mktemp -d) stays reachable, but no DAC override.
    const from = tree({ 'ok.txt': 'x', 'secret.txt': 'x', 'closed/f': 'x' });
    chmodSync(from, 0o755);
    const script = `
      import { collectLayer } from ${JSON.stringify(new URL('./source-tree.ts', import.meta.url).href)};
      const [from, exclude] = process.argv.slice(-2);
      try { await collectLayer({ from, to: '/app', exclude: [exclude] }); console.log('ok') }
      catch (err) { console.log(err.code, err.message) }`;
    const run = (exclude: string) => {
      const argv = [process.execPath, '--input-type=module', '-e', script, from, exclude];
      const [command, ...args] =
        process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-all', '--inh-caps=-all', ...argv] : argv;
      const r = spawnSync(command as string, args, { encoding: 'utf8' });
      if (r.error !== undefined) throw r.error;
      return r.stdout.trim() || r.stderr;
    };
    chmodSync(join(from, 'secret.txt'), 0);
    chmodSync(join(from, 'closed'), 0);
    assert.match(
      run('closed'),
      new RegExp(`^SOURCE_UNREADABLE Cannot read ${join(from, 'secret.txt')}: permission denied`),
    );
    assert.match(
      run('secret.txt'),
      new RegExp(`^SOURCE_UNREADABLE Cannot read directory ${join(from, 'closed')}: permission denied`),
    );
  });

  test('collectLayer() lists the same entries when the same tree sits elsewhere with another umask and other times', async () => {
    const make = (umask: number, time: number) => {
      const previous = process.umask(umask);
      try {
        const root = tree({ 'a/b.txt': 'b', 'c.sh': '#!/bin/sh', 'd/': { mode: 0o777 } });
        chmodSync(join(root, 'c.sh'), 0o777 & ~umask);
        execFileSync('touch', ['-h', '-d', `@${time}`, join(root, 'a/b.txt'), join(root, 'a'), root]);
        return root;
      } finally {
        process.umask(previous);
      }
    };
    const strip = (entries: FileEntry[]) => entries.map(({ source: _, ...e }) => e);
    const one = strip(await collectLayer({ from: make(0o022, 1_000_000_000), to: '/app' }));
    const two = strip(await collectLayer({ from: make(0o077, 1_600_000_000), to: '/app' }));
    assert.deepEqual(one, two);
  });

  test('collectLayer() rejects with the abort reason when the signal is aborted', async () => {
    const from = tree({ f: 'x' });
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await assert.rejects(collectLayer({ from, to: '/app' }, { signal: controller.signal }), /stop/);
  });
});

describe('collectLayer() with remembered digests', () => {
  const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}` as const;
  const later = () => createManualClock(Date.now() + 3_600_000); // every file is older than the racy window

  test('collectLayer() takes known digests without reading the file when the cache has them', async () => {
    const from = tree({ 'a.txt': 'real a', 'b/c.txt': 'real c' });
    await promisify(link)(join(from, 'a.txt'), join(from, 'z-link'));
    const told = { digest: `sha256:${'f'.repeat(64)}`, sha1: 'e'.repeat(40) } as const;
    const asked: string[] = [];
    const digests: DigestCache = {
      get: (rel, stamp) => {
        asked.push(rel);
        assert.equal(stamp.size, 6n);
        return told;
      },
      set: () => assert.fail('nothing was hashed, so nothing is recorded'),
    };
    const entries = await collectLayer({ from, to: '/app' }, { digests });
    assert.deepEqual(asked.sort(), ['a.txt', 'b/c.txt']);
    assert.deepEqual(
      entries.filter((e) => e.digest !== null).map((e) => [e.path, e.digest, e.sha1, e.size]),
      [
        ['app/a.txt', told.digest, told.sha1, 6],
        ['app/b/c.txt', told.digest, told.sha1, 6],
        ['app/z-link', told.digest, told.sha1, 6],
      ],
    );
  });

  test('collectLayer() shows onContent the bytes of each file it hashed, and none it took from the cache', async () => {
    const from = tree({ 'a.txt': 'alpha', 'b/big.bin': 'b'.repeat(2 << 20), 'c.txt': 'gamma' });
    const known = { digest: sha256('gamma'), sha1: createHash('sha1').update('gamma').digest('hex') };
    const digests: DigestCache = { get: (rel) => (rel === 'c.txt' ? known : null), set: () => {} };
    const seen: Array<[string, string | null, number]> = [];
    await collectLayer(
      { from, to: '/app' },
      { digests, onContent: (entry, content) => seen.push([entry.path, entry.digest, content.byteLength]) },
    );
    assert.deepEqual(seen, [
      ['app/a.txt', sha256('alpha'), 5],
      ['app/b/big.bin', sha256('b'.repeat(2 << 20)), 2 << 20],
    ]);
  });

  test('collectLayer() reads no file of an unchanged tree the second time and lists the same entries', async () => {
    const from = tree({ 'a.txt': 'a', 'b/c.txt': 'c', 'b/d/e.bin': 'e'.repeat(3 << 20) });
    const cacheDir = tempDir();
    const plain = await collectLayer({ from, to: '/app' });
    const first = await openDigestCache(cacheDir, from, { clock: later() });
    assert.deepEqual(await collectLayer({ from, to: '/app' }, { digests: first }), plain);
    assert.deepEqual(first.counts(), { hits: 0, misses: 3 });
    await first.save();
    const second = await openDigestCache(cacheDir, from, { clock: later() });
    assert.deepEqual(await collectLayer({ from, to: '/app' }, { digests: second }), plain);
    assert.deepEqual(second.counts(), { hits: 3, misses: 0 });
  });

  test('collectLayer() hashes a file again when it changed in place with the same size and a new mtime', async () => {
    const from = tree({ 'same.txt': 'before', 'other.txt': 'other' });
    const cacheDir = tempDir();
    const first = await openDigestCache(cacheDir, from, { clock: later() });
    await collectLayer({ from, to: '/app' }, { digests: first });
    await first.save();
    const { mtime } = statSync(join(from, 'same.txt'));
    writeFileSync(join(from, 'same.txt'), 'after!');
    utimesSync(join(from, 'same.txt'), mtime, new Date(mtime.getTime() + 5000));
    const second = await openDigestCache(cacheDir, from, { clock: later() });
    const entries = await collectLayer({ from, to: '/app' }, { digests: second });
    assert.equal(byPath(entries, 'app/same.txt').digest, sha256('after!'));
    assert.equal(byPath(entries, 'app/other.txt').digest, sha256('other'));
    assert.deepEqual(second.counts(), { hits: 1, misses: 1 });
  });

  test('collectLayer() hashes again files written within seconds of the build that recorded them', async () => {
    const from = tree({ 'fresh.txt': 'just written' });
    const cacheDir = tempDir();
    const first = await openDigestCache(cacheDir, from, { clock: systemClock });
    await collectLayer({ from, to: '/app' }, { digests: first });
    await first.save();
    const second = await openDigestCache(cacheDir, from, { clock: systemClock });
    const entries = await collectLayer({ from, to: '/app' }, { digests: second });
    assert.equal(byPath(entries, 'app/fresh.txt').digest, sha256('just written'));
    assert.deepEqual(second.counts(), { hits: 0, misses: 1 });
  });
});
