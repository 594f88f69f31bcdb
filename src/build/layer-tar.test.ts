import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { isErrorWithCode } from '../core/index.ts';
import { EMPTY_LAYER_DIFF_ID, type LayerResult, writeLayer } from './layer-tar.ts';
import { collectLayer, type FileEntry, listLayer, type PendingFile } from './source-tree.ts';

const EPOCH = 1_700_000_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fixity-layer-'));
  dirs.push(dir);
  return dir;
}

function tree(files: Record<string, string | Buffer>, root = tempDir()): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function layerOf(
  from: string,
  compression: 'gzip' | 'zstd' | 'none' = 'none',
  extra: { modes?: Record<string, number>; uid?: number } = {},
): Promise<{ result: LayerResult; out: string; entries: FileEntry[] }> {
  const entries = await collectLayer(
    { from, to: '/app', ...(extra.modes ? { modes: extra.modes } : {}) },
    extra.uid === undefined ? {} : { uid: extra.uid, gid: extra.uid },
  );
  const out = join(tempDir(), `layer.${compression}`);
  return { result: await writeLayer(entries, { mtime: EPOCH, compression, out }), out, entries };
}

interface Extracted {
  name: string;
  type: string;
  mode: number;
  uid: number;
  mtime: number;
  linkname: string | null;
  size: number;
  body: Buffer;
  pax: boolean;
}

async function extractTar(tar: Buffer): Promise<Extracted[]> {
  const ex = extract();
  ex.end(tar);
  const out: Extracted[] = [];
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const h = entry.header;
    const pax = (h as { pax?: unknown }).pax !== null && (h as { pax?: unknown }).pax !== undefined;
    out.push({
      name: h.name,
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      mtime: h.mtime.getTime() / 1000,
      linkname: h.linkname,
      size: h.size,
      body: Buffer.concat(chunks),
      pax,
    });
  }
  return out;
}

describe('writeLayer()', () => {
  test('writeLayer() writes byte-identical blobs when the same tree is collected at two paths with different umask and times', async () => {
    const make = (umask: number, time: number) => {
      const previous = process.umask(umask);
      try {
        const root = tree({
          'server.js': 'console.log(1)\n',
          'lib/util.js': 'x'.repeat(5000),
          'bin/run': '#!/bin/sh\n',
        });
        chmodSync(join(root, 'bin/run'), 0o777 & ~umask);
        for (const p of ['server.js', 'lib/util.js', 'lib', 'bin/run', '.']) utimesSync(join(root, p), time, time + 7);
        return root;
      } finally {
        process.umask(previous);
      }
    };
    const a = make(0o022, 1_000_000_000);
    const b = make(0o077, 1_650_000_000);
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const one = await layerOf(a, compression);
      const two = await layerOf(b, compression);
      assert.deepEqual(one.result, two.result, compression);
      assert.ok(readFileSync(one.out).equals(readFileSync(two.out)), compression);
      assert.equal(one.result.diffId, (await layerOf(a, 'none')).result.digest);
    }
  });

  test('writeLayer() writes a tar that GNU tar lists with uid 0 and the SOURCE_DATE_EPOCH mtime', async () => {
    const from = tree({ 'a.txt': 'a', 'd/b.txt': 'bb' });
    symlinkSync('a.txt', join(from, 'ln'));
    const { out } = await layerOf(from, 'gzip');
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', out], {
      encoding: 'utf8',
      env: { TZ: 'UTC' },
    });
    const lines = listing
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    assert.deepEqual(
      lines.map((l) => [l[0], l[1], l[3], l[4], l.slice(5).join(' ')]),
      [
        ['drwxr-xr-x', '0/0', '2023-11-14', '22:13:20', 'app/'],
        ['-rw-r--r--', '0/0', '2023-11-14', '22:13:20', 'app/a.txt'],
        ['drwxr-xr-x', '0/0', '2023-11-14', '22:13:20', 'app/d/'],
        ['-rw-r--r--', '0/0', '2023-11-14', '22:13:20', 'app/d/b.txt'],
        ['lrwxrwxrwx', '0/0', '2023-11-14', '22:13:20', 'app/ln -> a.txt'],
      ],
    );
  });

  test('writeLayer() writes a tar that tar-stream reads back as the entries', async () => {
    const from = tree({ 'a.txt': 'hello', 'key.pem': 'k', 'x/y.bin': randomBytes(3000) });
    linkSync(join(from, 'a.txt'), join(from, 'b.txt'));
    symlinkSync('x/y.bin', join(from, 'ln'));
    const { result, out, entries } = await layerOf(from, 'none', { modes: { 'key.pem': 0, x: 0o700 }, uid: 300_000 });
    const tar = readFileSync(out);
    assert.equal(result.uncompressedSize, tar.length);
    assert.equal(tar.length % 512, 0);
    assert.ok(tar.subarray(-1024).equals(Buffer.alloc(1024)));
    const got = await extractTar(tar);
    assert.deepEqual(
      got.map((e) => [e.name, e.type, e.mode, e.linkname]),
      [
        ['app/', 'directory', 0o755, null],
        ['app/a.txt', 'file', 0o644, null],
        ['app/b.txt', 'link', 0o644, 'app/a.txt'],
        ['app/key.pem', 'file', 0, null],
        ['app/ln', 'symlink', 0o777, 'x/y.bin'],
        ['app/x/', 'directory', 0o700, null],
        ['app/x/y.bin', 'file', 0o644, null],
      ],
    );
    for (const e of got) assert.equal(e.mtime, EPOCH);
    assert.equal(got.find((e) => e.name === 'app/b.txt')!.size, 0);
    for (const e of entries.filter((e) => e.type === 'file')) {
      assert.equal(sha256(got.find((g) => g.name === e.path)!.body), e.digest);
    }
    // uid 300000 does not fit the 6 octal digits of a ustar header: GNU tar reads it from the PAX record
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' });
    assert.match(listing, /300000\/300000 +5 .* app\/a\.txt/);
  });

  test('writeLayer() round-trips names over 100 bytes through the ustar prefix and PAX only when needed', async () => {
    const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/file.txt`; // > 100 bytes, splits into prefix + name
    const long = `${'n'.repeat(150)}.txt`; // one 150-byte name: needs PAX
    const from = tree({ [deep]: 'deep', [long]: 'long', 'short.txt': 's', 'ünï.txt': 'u' });
    symlinkSync(`./${long}`, join(from, 'far-link'));
    const { out, result } = await layerOf(from, 'gzip');
    const got = await extractTar(gunzipSync(readFileSync(out)));
    const pax = Object.fromEntries(got.map((e) => [e.name, e.pax]));
    assert.equal(pax[`app/${deep}`], false);
    assert.equal(pax[`app/${long}`], true);
    assert.equal(pax['app/far-link'], true);
    assert.equal(pax['app/short.txt'], false);
    assert.equal(pax['app/ünï.txt'], true);
    assert.equal(got.find((e) => e.name === 'app/far-link')!.linkname, `./${long}`);
    assert.equal(got.find((e) => e.name === `app/${long}`)!.body.toString(), 'long');
    const gnu = execFileSync('tar', ['-tzf', out], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(
      gnu,
      got.map((e) => e.name),
    );
    assert.ok(result.uncompressedSize > 0);
  });

  test('writeLayer() decodes with gzip -dc to the tar of diffId when a large file spans many gzip members', async () => {
    const big = Buffer.concat([randomBytes(8 << 20), Buffer.alloc(12 << 20, 'fixity ')]); // 20 MiB
    const from = tree({ 'big.bin': big, 'small.txt': 'tail' });
    const { out, result } = await layerOf(from, 'gzip');
    const { result: plain } = await layerOf(from, 'none');
    assert.equal(result.diffId, plain.digest);
    assert.equal(result.digest, sha256(readFileSync(out)));
    assert.equal(result.size, readFileSync(out).length);
    execFileSync('gzip', ['-t', out]);
    const tar = execFileSync('gzip', ['-dc', out], { maxBuffer: 64 << 20 });
    assert.equal(sha256(tar), result.diffId);
    assert.equal(tar.length, result.uncompressedSize);
    assert.equal(sha256(gunzipSync(readFileSync(out))), result.diffId);
    const python = 'import gzip,hashlib,sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())';
    assert.equal(`sha256:${execFileSync('python3', ['-c', python, out], { encoding: 'utf8' }).trim()}`, result.diffId);
    const body = (await extractTar(tar)).find((e) => e.name === 'app/big.bin')!.body;
    assert.ok(body.equals(big));
  });

  test('writeLayer() writes zstd that decompresses to the tar of diffId', async () => {
    const from = tree({ 'a.txt': 'a'.repeat(100_000), 'b.bin': randomBytes(2 << 20) });
    const { out, result } = await layerOf(from, 'zstd');
    assert.equal(result.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    const tar = zstdCLI()
      ? execFileSync('zstd', ['-dc', out], { maxBuffer: 64 << 20 })
      : zstdDecompressSync(readFileSync(out));
    assert.equal(sha256(tar), result.diffId);
  });

  test('writeLayer() fails with SOURCE_CHANGED naming the file when it changed after collecting', async () => {
    // Small files are read whole ahead of time, large ones streamed: both paths check the content again.
    const small = Buffer.from('hello');
    const large = Buffer.alloc(600_000, 'large ');
    const changes: Array<[string, (path: string, was: Buffer) => void]> = [
      ['same size, other bytes', (p, was) => writeFileSync(p, Buffer.from(was).fill('X', 0, 3))],
      ['grew', (p, was) => writeFileSync(p, Buffer.concat([was, Buffer.from('!')]))],
      ['shrank', (p, was) => writeFileSync(p, was.subarray(1))],
      ['deleted', (p) => rmSync(p)],
      [
        'replaced by a symlink',
        (p) => {
          rmSync(p);
          symlinkSync('/etc/passwd', p);
        },
      ],
    ];
    for (const content of [small, large]) {
      for (const [what, change] of changes) {
        const from = tree({ 'a.txt': content, 'z.txt': 'z' });
        const entries = await collectLayer({ from, to: '/app' });
        change(join(from, 'a.txt'), content);
        const dir = tempDir();
        await assert.rejects(
          writeLayer(entries, { mtime: EPOCH, compression: 'gzip', out: join(dir, 'layer') }),
          (err) => isErrorWithCode(err, 'SOURCE_CHANGED') && err.message.includes(join(from, 'a.txt')),
          `${content.length} bytes, ${what}`,
        );
        assert.deepEqual(readdirSync(dir), [], `${what}: no blob and no temporary file is left`);
      }
    }
  });

  test('writeLayer() hashes pending files as it packs them: the same blob and digests as collected ahead, hardlinks too', async () => {
    const large = randomBytes(1_500_000); // over the 1 MiB staging buffer: streamed, not seen whole
    const from = tree({ 'a.txt': 'alpha', 'big.bin': large, 'lib/b.js': 'beta', 'z.txt': 'zeta' });
    linkSync(join(from, 'a.txt'), join(from, 'hard.txt'));
    symlinkSync('a.txt', join(from, 'link'));
    const ahead = await layerOf(from, 'gzip');

    const listed = await listLayer({ from, to: '/app' });
    assert.deepEqual(
      listed.pending.map((p) => [p.rel, p.links.map((l) => l.path)]),
      [
        ['a.txt', ['app/hard.txt']],
        ['big.bin', []],
        ['lib/b.js', []],
        ['z.txt', []],
      ],
    );
    assert.ok(listed.entries.filter((e) => e.type === 'file' || e.type === 'hardlink').every((e) => e.digest === null));
    const seen: Array<[string, number | null]> = [];
    const out = join(tempDir(), 'layer');
    const result = await writeLayer(listed.entries, {
      mtime: EPOCH,
      compression: 'gzip',
      out,
      pending: new Map(listed.pending.map((p): [FileEntry, PendingFile] => [p.entry, p])),
      onHashed: (file, read) => {
        assert.equal(read.stat.ino, file.stamp.ino);
        seen.push([file.rel, read.content === null ? null : read.content.byteLength]);
      },
    });
    assert.deepEqual(result, ahead.result);
    assert.deepEqual(listed.entries, ahead.entries, 'digests, SHA-1s and sizes as collectLayer gives them');
    assert.deepEqual(seen, [
      ['a.txt', 5],
      ['big.bin', null],
      ['lib/b.js', 4],
      ['z.txt', 4],
    ]);
    assert.equal(listed.entries.find((e) => e.path === 'app/big.bin')?.digest, sha256(large));
  });

  test('writeLayer() fails with SOURCE_CHANGED when a pending file is not the file listed, unchanged', async () => {
    const changes: Array<[string, (path: string) => void]> = [
      ['same size, other bytes', (p) => writeFileSync(p, 'HELLO')],
      ['touched', (p) => utimesSync(p, new Date(), new Date(Date.now() + 5000))],
      ['grew', (p) => writeFileSync(p, 'hello!')],
      ['shrank', (p) => writeFileSync(p, 'hell')],
      ['deleted', (p) => rmSync(p)],
      [
        'replaced by another file', // made before the old one goes, so it cannot reuse the old inode number
        (p) => {
          writeFileSync(`${p}.new`, 'hello');
          renameSync(`${p}.new`, p);
        },
      ],
      [
        'replaced by a symlink',
        (p) => {
          rmSync(p);
          symlinkSync('/etc/passwd', p);
        },
      ],
    ];
    for (const [what, change] of changes) {
      const from = tree({ 'a.txt': 'hello' });
      const listed = await listLayer({ from, to: '/app' });
      change(join(from, 'a.txt'));
      const dir = tempDir();
      await assert.rejects(
        writeLayer(listed.entries, {
          mtime: EPOCH,
          compression: 'gzip',
          out: join(dir, 'layer'),
          pending: new Map(listed.pending.map((p): [FileEntry, PendingFile] => [p.entry, p])),
        }),
        (err) => isErrorWithCode(err, 'SOURCE_CHANGED') && err.message.includes(join(from, 'a.txt')),
        what,
      );
      assert.deepEqual(readdirSync(dir), [], `${what}: no blob and no temporary file is left`);
    }
    // A file without a digest that is not pending is refused before anything is written.
    const from = tree({ 'a.txt': 'hello' });
    const listed = await listLayer({ from, to: '/app' });
    await assert.rejects(
      writeLayer(listed.entries, { mtime: EPOCH, compression: 'none', out: join(tempDir(), 'layer') }),
      (err) => isErrorWithCode(err, 'LAYER_INVALID'),
    );
  });

  test('writeLayer() returns EMPTY_LAYER_DIFF_ID when there are no entries', async () => {
    const out = join(tempDir(), 'empty');
    const result = await writeLayer([], { mtime: 0, compression: 'none', out });
    assert.equal(result.diffId, EMPTY_LAYER_DIFF_ID);
    assert.equal(result.size, 1024);
  });

  test('writeLayer() reports progress and writes the blob only when done', async () => {
    const from = tree({ 'a.bin': randomBytes(3 << 20), 'b.txt': 'b' });
    const entries = await collectLayer({ from, to: '/app' });
    const out = join(tempDir(), 'layer');
    const seen: Array<{ files: number; bytesIn: number; bytesOut: number }> = [];
    const result = await writeLayer(entries, {
      mtime: EPOCH,
      compression: 'gzip',
      out,
      onProgress: (p) => seen.push(p),
    });
    assert.ok(seen.length >= 3);
    assert.deepEqual(seen.at(-1), { files: entries.length, bytesIn: result.uncompressedSize, bytesOut: result.size });
    assert.ok(existsSync(out));
  });

  test('writeLayer() rejects with the abort reason and leaves no file when the signal aborts', async () => {
    const from = tree({ 'a.bin': randomBytes(4 << 20) });
    const entries = await collectLayer({ from, to: '/app' });
    const dir = tempDir();
    const controller = new AbortController();
    const writing = writeLayer(entries, {
      mtime: EPOCH,
      compression: 'gzip',
      out: join(dir, 'layer'),
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('user stopped')),
    });
    await assert.rejects(writing, /user stopped/);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('writeLayer() throws LAYER_INVALID when entries are unsorted or the mtime is not whole seconds', async () => {
    const entries = await collectLayer({ from: tree({ a: 'a', b: 'b' }), to: '/app' });
    const out = join(tempDir(), 'layer');
    const swapped = [entries[0]!, entries[2]!, entries[1]!];
    await assert.rejects(writeLayer(swapped, { mtime: EPOCH, compression: 'none', out }), (err) =>
      isErrorWithCode(err, 'LAYER_INVALID'),
    );
    await assert.rejects(writeLayer(entries, { mtime: 1.5, compression: 'none', out }), (err) =>
      isErrorWithCode(err, 'LAYER_INVALID'),
    );
    assert.ok(!existsSync(out));
  });

  test('writeLayer() takes entries in UTF-8 byte order, not UTF-16, when names hold U+E000 and up or surrogates', async () => {
    // UTF-16 puts 😀 (a surrogate pair) before U+E000 and 'é'; UTF-8 puts it after both, as collectLayer sorts.
    const entries = await collectLayer({ from: tree({ é: '1', '\uE000': '2', '😀': '3' }), to: '/' });
    assert.deepEqual(
      entries.map((e) => e.path),
      ['é', '\uE000', '😀'],
    );
    const out = join(tempDir(), 'layer');
    await writeLayer(entries, { mtime: EPOCH, compression: 'none', out });
    const reversed = [entries[0]!, entries[2]!, entries[1]!];
    await assert.rejects(writeLayer(reversed, { mtime: EPOCH, compression: 'none', out: `${out}2` }), (err) =>
      isErrorWithCode(err, 'LAYER_INVALID'),
    );
  });
});

function zstdCLI(): boolean {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
