import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type Digest, DigestError, digestOf } from '../core/index.ts';
import { type BlobStore, createFsBlobStore } from './fs-blob-store.ts';
import { StoreError } from './store-error.ts';

const storeError = (code: string) => (err: unknown) => err instanceof StoreError && err.code === code;

async function* chunks(...parts: Array<string | Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? new TextEncoder().encode(p) : p;
}

async function* failing(first: string, error: Error): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(first);
  throw error;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

describe('createFsBlobStore()', () => {
  let root: string;
  let store: BlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'fixity-blobs-'));
    store = await createFsBlobStore(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Uploads `content` in one session and finishes it under its sha256 digest. */
  async function put(content: string): Promise<Digest> {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks(content));
    const digest = digestOf(content);
    await store.uploads.finish(id, digest, async () => undefined);
    return digest;
  }

  const blobFiles = (algorithm = 'sha256') => readdir(join(root, 'blobs', algorithm));
  const uploadFiles = () => readdir(join(root, 'uploads'));

  test('uploads create, append and finish a blob that can then be read', async () => {
    const id = await store.uploads.create();
    assert.equal(await store.uploads.size(id), 0);
    assert.equal(await store.uploads.append(id, 0, chunks('hello ')), 6);
    assert.equal(await store.uploads.append(id, 6, chunks('wor', 'ld')), 11);
    assert.equal(await store.uploads.size(id), 11);
    const digest = digestOf('hello world');
    const committed = await store.uploads.finish(id, digest, async (size) => `committed ${size}`);
    assert.equal(committed, 'committed 11');
    assert.equal((await store.stat(digest))?.size, 11);
    assert.equal(await readAll(store.read(digest)), 'hello world');
    assert.equal(await readAll(store.read(digest, { start: 1, end: 4 })), 'ello', 'the range end is inclusive');
    assert.equal(await store.uploads.size(id), null, 'the session is gone');
    assert.deepEqual(await uploadFiles(), []);
  });

  test('uploads keep every byte of a multi-megabyte upload sent in many chunks', async () => {
    const parts = Array.from({ length: 5 }, (_, i) => randomBytes(700_000 + i));
    const all = Buffer.concat(parts);
    const id = await store.uploads.create();
    assert.equal(await store.uploads.append(id, 0, chunks(...parts.slice(0, 2))), parts[0]!.length + parts[1]!.length);
    await store.uploads.append(id, parts[0]!.length + parts[1]!.length, chunks(...parts.slice(2)));
    const digest = digestOf(all);
    await store.uploads.finish(id, digest, async () => undefined);
    const stored: Buffer[] = [];
    for await (const c of store.read(digest)) stored.push(c as Buffer);
    assert.ok(Buffer.concat(stored).equals(all));
  });

  test('uploads finish an empty blob', async () => {
    const id = await store.uploads.create();
    await store.uploads.finish(id, digestOf(''), async () => undefined);
    assert.equal((await store.stat(digestOf('')))?.size, 0);
  });

  test('uploads.append() at the wrong offset fails with CONFLICT and changes nothing', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('abc'));
    await assert.rejects(store.uploads.append(id, 2, chunks('x')), storeError('CONFLICT'));
    await assert.rejects(store.uploads.append(id, 4, chunks('x')), storeError('CONFLICT'));
    assert.equal(await store.uploads.size(id), 3);
    await store.uploads.finish(id, digestOf('abc'), async () => undefined);
  });

  test('uploads.append() of the same offset in parallel lets exactly one win', async () => {
    const id = await store.uploads.create();
    const results = await Promise.allSettled([
      store.uploads.append(id, 0, chunks('aaaa')),
      store.uploads.append(id, 0, chunks('bbbb')),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected');
    assert.ok(rejected !== undefined && storeError('CONFLICT')(rejected.reason));
    assert.equal(await store.uploads.size(id), 4);
  });

  test('uploads reject an unknown session with BLOB_UPLOAD_UNKNOWN', async () => {
    const id = 'A'.repeat(24);
    assert.equal(await store.uploads.size(id), null);
    await assert.rejects(store.uploads.append(id, 0, chunks('x')), storeError('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(
      store.uploads.finish(id, digestOf(''), async () => 1),
      storeError('BLOB_UPLOAD_UNKNOWN'),
    );
    assert.equal(await store.uploads.cancel(id), false);
  });

  test('uploads.finish() with the wrong digest fails with DIGEST_MISMATCH and drops the session', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('actual content'));
    let committed = false;
    await assert.rejects(
      store.uploads.finish(id, digestOf('claimed content'), async () => {
        committed = true;
      }),
      (err: unknown) => err instanceof DigestError && err.code === 'DIGEST_MISMATCH',
    );
    assert.equal(committed, false);
    assert.equal(await store.uploads.size(id), null);
    assert.equal(await store.stat(digestOf('claimed content')), null);
    assert.equal(await store.stat(digestOf('actual content')), null);
    assert.deepEqual(await collect(store.list()), []);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('uploads.finish() with a malformed digest keeps the session', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('x'));
    await assert.rejects(
      store.uploads.finish(id, 'sha256:XYZ' as Digest, async () => undefined),
      (err: unknown) => err instanceof DigestError && err.code === 'DIGEST_INVALID',
    );
    assert.equal(await store.uploads.size(id), 1);
  });

  test('uploads of the same content twice leave one blob file', async () => {
    const first = await put('same bytes');
    const second = await put('same bytes');
    assert.equal(first, second);
    assert.deepEqual(await blobFiles(), [first.slice('sha256:'.length)]);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('uploads of the same content finished in parallel both commit and leave one file', async () => {
    const ids = await Promise.all([store.uploads.create(), store.uploads.create()]);
    for (const id of ids) await store.uploads.append(id, 0, chunks('parallel'));
    const sizes = await Promise.all(ids.map((id) => store.uploads.finish(id, digestOf('parallel'), async (n) => n)));
    assert.deepEqual(sizes, [8, 8]);
    assert.equal((await blobFiles()).length, 1);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('uploads.finish() accepts a sha512 digest', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('five hundred and twelve'));
    const digest = digestOf('five hundred and twelve', 'sha512');
    await store.uploads.finish(id, digest, async () => undefined);
    assert.equal(await readAll(store.read(digest)), 'five hundred and twelve');
    assert.deepEqual(await blobFiles('sha512'), [digest.slice('sha512:'.length)]);
    assert.deepEqual(await blobFiles('sha256'), []);
  });

  test('uploads.append() that fails midway leaves the session at its previous size', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('kept '));
    const boom = new Error('connection reset');
    await assert.rejects(store.uploads.append(id, 5, failing('lost bytes', boom)), (err) => err === boom);
    assert.equal(await store.uploads.size(id), 5);
    // The client retries the chunk; the running hash must not include the lost bytes.
    assert.equal(await store.uploads.append(id, 5, chunks('retried')), 12);
    await store.uploads.finish(id, digestOf('kept retried'), async () => undefined);
    assert.equal(await readAll(store.read(digestOf('kept retried'))), 'kept retried');
  });

  test('uploads.append() of 40 MiB, through several writes in flight and early syncs, keeps every byte, and a failure late in it keeps the previous size', async () => {
    const block = randomBytes(64 * 1024);
    const total = 40 * 1024 * 1024;
    async function* stream(fail: Error | null): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < total; at += block.length) {
        if (fail !== null && at >= total - 4 * block.length) throw fail;
        const b = Buffer.from(block);
        b.writeUInt32BE(at / block.length); // each block differs, so a misplaced one changes the digest
        yield b.subarray(0, 1000);
        yield b.subarray(1000);
      }
    }
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('head '));
    const boom = new Error('connection reset');
    await assert.rejects(store.uploads.append(id, 5, stream(boom)), (err) => err === boom);
    assert.equal(await store.uploads.size(id), 5);
    assert.equal(await store.uploads.append(id, 5, stream(null)), 5 + total);
    const expected = createHash('sha256').update('head ');
    for await (const c of stream(null)) expected.update(c);
    const digest = `sha256:${expected.digest('hex')}` as Digest;
    await store.uploads.finish(id, digest, async () => undefined);
    const stored = createHash('sha256');
    for await (const c of store.read(digest)) stored.update(c as Buffer);
    assert.equal(`sha256:${stored.digest('hex')}`, digest);
  });

  test('uploads.append() stops when its signal aborts and keeps the previous size', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('abc'));
    const controller = new AbortController();
    async function* slow() {
      yield new TextEncoder().encode('def');
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 10));
      yield new TextEncoder().encode('ghi');
    }
    await assert.rejects(store.uploads.append(id, 3, slow(), { signal: controller.signal }));
    assert.equal(await store.uploads.size(id), 3);
  });

  test('uploads.append() beyond maxSize fails with SIZE_INVALID and keeps the previous size', async () => {
    const id = await store.uploads.create();
    await assert.rejects(store.uploads.append(id, 0, chunks('hello'), { maxSize: 4 }), storeError('SIZE_INVALID'));
    assert.equal(await store.uploads.size(id), 0);
    assert.equal(await store.uploads.append(id, 0, chunks('abc'), { maxSize: 4 }), 3);
    await assert.rejects(store.uploads.append(id, 3, chunks('d', 'e'), { maxSize: 4 }), storeError('SIZE_INVALID'));
    assert.equal(await store.uploads.size(id), 3);
    assert.equal(await store.uploads.append(id, 3, chunks('d'), { maxSize: 4 }), 4);
    await store.uploads.finish(id, digestOf('abcd'), async () => undefined);
  });

  test('uploads reject ids that could escape the uploads directory with BLOB_UPLOAD_UNKNOWN', async () => {
    await writeFile(join(root, 'x'), 'outside');
    for (const id of ['../x', '../../etc/passwd', 'a/b', '..', '', `${'a'.repeat(20)}/..`, `${'a'.repeat(20)}\0`]) {
      await assert.rejects(store.uploads.size(id), storeError('BLOB_UPLOAD_UNKNOWN'), JSON.stringify(id));
      await assert.rejects(store.uploads.append(id, 0, chunks('x')), storeError('BLOB_UPLOAD_UNKNOWN'));
      await assert.rejects(
        store.uploads.finish(id, digestOf('outside'), async () => 1),
        storeError('BLOB_UPLOAD_UNKNOWN'),
      );
      await assert.rejects(store.uploads.cancel(id), storeError('BLOB_UPLOAD_UNKNOWN'));
    }
    assert.deepEqual(await readdir(root).then((names) => names.sort()), ['blobs', 'uploads', 'x']);
  });

  test('uploads.cancel() removes a session once', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('abc'));
    assert.equal(await store.uploads.cancel(id), true);
    assert.equal(await store.uploads.cancel(id), false);
    assert.equal(await store.uploads.size(id), null);
  });

  test('uploads.list() reports open sessions and their sizes', async () => {
    const a = await store.uploads.create();
    const b = await store.uploads.create();
    await store.uploads.append(b, 0, chunks('12345'));
    await writeFile(join(root, 'uploads', 'not-an-id'), '');
    const sessions = await collect(store.uploads.list());
    assert.deepEqual(
      sessions.map((s) => [s.id, s.size]).sort(),
      [
        [a, 0],
        [b, 5],
      ].sort(),
    );
    assert.ok(sessions.every((s) => s.mtime instanceof Date));
  });

  test('uploads.finish() after a restart re-hashes the session from its file', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('before restart, '));
    const restarted = await createFsBlobStore(root);
    assert.equal(await restarted.uploads.size(id), 16);
    assert.equal(await restarted.uploads.append(id, 16, chunks('after restart')), 29);
    const digest = digestOf('before restart, after restart');
    await restarted.uploads.finish(id, digest, async () => undefined);
    assert.equal(await readAll(restarted.read(digest)), 'before restart, after restart');

    const other = await store.uploads.create();
    await store.uploads.append(other, 0, chunks('only before'));
    await (await createFsBlobStore(root)).uploads.finish(other, digestOf('only before'), async () => undefined);
    assert.equal((await store.stat(digestOf('only before')))?.size, 11);
  });

  test('uploads.finish() notices bytes another store instance appended since', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('one '));
    const second = await createFsBlobStore(root);
    await second.uploads.append(id, 4, chunks('two '));
    assert.equal(await store.uploads.append(id, 8, chunks('three')), 13);
    await store.uploads.finish(id, digestOf('one two three'), async () => undefined);
  });

  test('remove() deletes the blob only when decide() agrees', async () => {
    const digest = await put('removable');
    assert.equal(await store.remove(digest, async () => false), false);
    assert.equal((await store.stat(digest))?.size, 9);
    assert.equal(await store.remove(digest, async () => true), true);
    assert.equal(await store.stat(digest), null);
  });

  test('remove() propagates an error from decide() and keeps the blob', async () => {
    const digest = await put('kept');
    await assert.rejects(
      store.remove(digest, async () => {
        throw new Error('database down');
      }),
      /database down/,
    );
    assert.equal((await store.stat(digest))?.size, 4);
  });

  test('list() yields every stored blob and skips stray files', async () => {
    const a = await put('first');
    const b = await put('second');
    await writeFile(join(root, 'blobs', 'sha256', 'README'), 'not a blob');
    const blobs = await collect(store.list());
    assert.deepEqual(
      blobs.map((x) => [x.digest, x.size]).sort(),
      [
        [a, 5],
        [b, 6],
      ].sort(),
    );
  });

  test('stat() returns null for a blob that is not stored', async () => {
    assert.equal(await store.stat(digestOf('absent')), null);
  });

  test('uploads.finishWith() writes an empty session once as the blob and ends the session', async () => {
    const id = await store.uploads.create();
    const digest = digestOf('small monolithic body');
    const size = await store.uploads.finishWith(id, digest, Buffer.from('small monolithic body'), async (n) => n);
    assert.equal(size, 21);
    assert.equal(await readAll(store.read(digest)), 'small monolithic body');
    assert.equal(await store.uploads.size(id), null);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('uploads.finishWith() appends to a session that already holds bytes', async () => {
    const id = await store.uploads.create();
    await store.uploads.append(id, 0, chunks('first chunk, '));
    const digest = digestOf('first chunk, last chunk');
    await store.uploads.finishWith(id, digest, Buffer.from('last chunk'), async () => undefined);
    assert.equal(await readAll(store.read(digest)), 'first chunk, last chunk');
    assert.deepEqual(await uploadFiles(), []);
  });

  test('uploads.finishWith() with the wrong digest fails with DIGEST_MISMATCH and drops the session', async () => {
    const id = await store.uploads.create();
    let committed = false;
    await assert.rejects(
      store.uploads.finishWith(id, digestOf('claimed'), Buffer.from('actual'), async () => {
        committed = true;
      }),
      (err: unknown) => err instanceof DigestError && err.code === 'DIGEST_MISMATCH',
    );
    assert.equal(committed, false);
    assert.equal(await store.uploads.size(id), null);
    assert.deepEqual(await blobFiles(), []);
  });

  test('uploads.finishWith() of an unknown session fails with BLOB_UPLOAD_UNKNOWN', async () => {
    await assert.rejects(
      store.uploads.finishWith('A'.repeat(24), digestOf('x'), Buffer.from('x'), async () => undefined),
      storeError('BLOB_UPLOAD_UNKNOWN'),
    );
  });

  test('uploads.finishWith() keeps the session empty when commit fails', async () => {
    const id = await store.uploads.create();
    const digest = digestOf('retry me');
    await assert.rejects(
      store.uploads.finishWith(id, digest, Buffer.from('retry me'), async () => {
        throw new Error('database down');
      }),
      /database down/,
    );
    // The bytes reached the blob directory, but the session is gone: the client starts a new upload.
    assert.equal((await store.stat(digest))?.size, 8);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('put() stores a blob held in memory and leaves no upload file', async () => {
    const digest = digestOf('single request');
    assert.equal(await store.put(digest, Buffer.from('single request'), async (n) => n), 14);
    assert.equal(await readAll(store.read(digest)), 'single request');
    assert.equal(await store.put(digest, Buffer.from('single request'), async (n) => n), 14, 'again is fine');
    assert.deepEqual(await blobFiles(), [digest.slice('sha256:'.length)]);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('put() with the wrong digest fails with DIGEST_MISMATCH and writes nothing', async () => {
    await assert.rejects(
      store.put(digestOf('claimed'), Buffer.from('actual'), async () => undefined),
      (err: unknown) => err instanceof DigestError && err.code === 'DIGEST_MISMATCH',
    );
    assert.deepEqual(await blobFiles(), []);
    assert.deepEqual(await uploadFiles(), []);
  });

  test('send() writes an inclusive byte range and reports a blob that is not stored', async () => {
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const digest = digestOf(content);
    await store.put(digest, content, async () => undefined);
    // Like a socket, the sink is done with each chunk when its write callback runs.
    const received: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(Buffer.from(chunk));
        callback();
      },
    });
    let ready = 0;
    const range = { start: 5, end: content.byteLength - 3 };
    assert.equal(await store.send(digest, sink, range, () => ready++), true);
    assert.ok(Buffer.concat(received).equals(content.subarray(5, content.byteLength - 2)));
    assert.equal(ready, 1);
    assert.equal(await store.send(digestOf('absent'), new PassThrough(), { start: 0, end: 0 }, () => ready++), false);
    assert.equal(ready, 1, 'ready is not called for an absent blob');
  });

  test('send() fails when the connection closes mid-blob', async () => {
    const content = randomBytes(4 * 1024 * 1024);
    const digest = digestOf(content);
    await store.put(digest, content, async () => undefined);
    const sink = new PassThrough({ highWaterMark: 1 });
    sink.once('data', () => sink.destroy());
    await assert.rejects(store.send(digest, sink, { start: 0, end: content.byteLength - 1 }, () => undefined));
  });

  test('a mix of uploads leaves only finished blobs in the blobs directory', async () => {
    const done = await put('durable');
    const failed = await store.uploads.create();
    await store.uploads.append(failed, 0, chunks('mismatch'));
    await store.uploads.finish(failed, digestOf('other'), async () => undefined).catch(() => undefined);
    const aborted = await store.uploads.create();
    await store.uploads.append(aborted, 0, failing('partial', new Error('reset'))).catch(() => undefined);
    await store.uploads.cancel(aborted);
    assert.deepEqual(await blobFiles(), [done.slice('sha256:'.length)]);
    assert.deepEqual(await blobFiles('sha512'), []);
    assert.deepEqual(await readdir(join(root, 'blobs')).then((n) => n.sort()), ['sha256', 'sha512']);
    assert.deepEqual(await uploadFiles(), []);
  });
});
