import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { diffManifest, scanRoot } from './root-manifest.ts';
import { createMemoryImages, makeLayer } from './test-image.ts';
import { createUnpacker } from './unpack.ts';

const dirs: string[] = [];
const fresh = async () => {
  const d = await mkdtemp(join(tmpdir(), 'fixity-unpack-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('unpack', () => {
  test('unpack() applies layers in order with whiteouts, links and modes into a read-only root', async () => {
    const mem = createMemoryImages();
    const l1 = await makeLayer([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/gone', content: 'x' },
      { name: 'etc/keep', content: 'keep' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/old', content: 'old' },
      { name: 'bin/tool', content: '#!/bin/sh\n', mode: 0o755 },
    ]);
    const l2 = await makeLayer(
      [
        { name: 'etc/.wh.gone', content: '' },
        { name: 'opq/new', content: 'new' },
        { name: 'opq/.wh..wh..opq', content: '' },
        { name: 'link', type: 'symlink', linkname: '/etc/keep' },
        { name: 'hard', type: 'link', linkname: 'etc/keep' },
      ],
      'zstd',
    );
    const image = mem.addImage([l1, l2], { Entrypoint: ['/bin/tool'], Env: ['A=1'], WorkingDir: '/etc' });
    const state = await fresh();
    const unpacker = createUnpacker(join(state, 'roots'), mem.images);
    const [root, again] = await Promise.all([unpacker.unpack(image), unpacker.unpack(image)]);
    assert.equal(root, again);
    assert.deepEqual(root.config.entrypoint, ['/bin/tool']);
    assert.equal(root.config.workingDir, '/etc');
    await assert.rejects(lstat(join(root.dir, 'etc/gone')));
    await assert.rejects(lstat(join(root.dir, 'opq/old')));
    assert.equal(await readFile(join(root.dir, 'opq/new'), 'utf8'), 'new');
    assert.equal(await readlink(join(root.dir, 'link')), '/etc/keep');
    assert.equal((await stat(join(root.dir, 'hard'))).ino, (await stat(join(root.dir, 'etc/keep'))).ino);
    assert.equal((await stat(join(root.dir, 'bin/tool'))).mode & 0o777, 0o555);
    assert.equal((await stat(join(root.dir, 'etc'))).mode & 0o222, 0);
    assert.deepEqual(diffManifest(root.manifest, await scanRoot(root.dir)), []);
  });

  test('unpack() refuses a layer whose bytes do not match its digest and leaves no root', async () => {
    const mem = createMemoryImages();
    const layer = await makeLayer([{ name: 'a', content: 'a' }]);
    const image = mem.addImage([layer], { Cmd: ['/a'] });
    mem.tamper(layer.digest, (await makeLayer([{ name: 'a', content: 'evil' }])).bytes);
    const state = await fresh();
    const unpacker = createUnpacker(join(state, 'roots'), mem.images);
    await assert.rejects(unpacker.unpack(image), (err) => isErrorWithCode(err, 'DIGEST_MISMATCH'));
    await assert.rejects(lstat(unpacker.paths(image).dir));
  });

  test('unpack() refuses ../ entries and writes through symlinks, writing nothing outside', async () => {
    const state = await fresh();
    for (const entries of [
      [{ name: '../evil', content: 'x' }],
      [{ name: 'a/../../evil', content: 'x' }],
      [
        { name: 'out', type: 'symlink' as const, linkname: state },
        { name: 'out/evil', content: 'x' },
      ],
      [{ name: 'dev', type: 'character-device' as const }],
    ]) {
      const mem = createMemoryImages();
      const image = mem.addImage([await makeLayer(entries, 'tar')], { Cmd: ['/x'] });
      const unpacker = createUnpacker(join(state, 'roots'), mem.images);
      await assert.rejects(unpacker.unpack(image), (err) => isErrorWithCode(err, 'UNSAFE_PATH'));
    }
    await assert.rejects(lstat(join(state, 'evil')));
    await assert.rejects(lstat(join(state, 'roots', '..', 'evil')));
  });

  test('diffManifest() names changed, added and removed files', () => {
    const base = { path: '/a', type: 'file' as const, mode: 0o444, size: 1, sha256: 'aa' };
    const expected = { digest: 'sha256:1' as const, entries: [base, { ...base, path: '/b' }] };
    const actual = {
      digest: 'sha256:2' as const,
      entries: [
        { ...base, sha256: 'bb' },
        { ...base, path: '/c' },
      ],
    };
    assert.deepEqual(
      diffManifest(expected, actual).map((f) => [f.kind, f.subject]),
      [
        ['file-changed', '/a'],
        ['file-removed', '/b'],
        ['file-added', '/c'],
      ],
    );
  });
});
