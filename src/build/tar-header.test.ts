import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { pack } from 'tar-stream';
import { encodeTarHeader, type TarHeader } from './tar-header.ts';

// As Fixity fed tar-stream before: file-type bits keep a mode of 0 from being taken for "unset".
const TYPE_BITS = { file: 0o100000, link: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;

/** The first `length` bytes tar-stream writes for `h` (a file's content is left unwritten). */
async function tarStreamBytes(h: TarHeader, length: number): Promise<Buffer> {
  const p = pack();
  p.entry({
    name: h.name,
    type: h.type,
    mode: TYPE_BITS[h.type] | h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: new Date(h.mtime * 1000),
    ...(h.linkname === null ? {} : { linkname: h.linkname }),
    ...(h.pax === null ? {} : { pax: h.pax }),
  });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of p as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.byteLength;
    if (total >= length) break;
  }
  p.destroy();
  return Buffer.concat(chunks).subarray(0, length);
}

const segment = fc.oneof(
  fc.stringMatching(/^[a-z0-9._-]{1,40}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => !s.includes('/') && !s.includes('\0')),
);
const name = fc.array(segment, { minLength: 1, maxLength: 12 }).map((parts) => parts.join('/'));
const id = fc.oneof(fc.integer({ min: 0, max: 0o777777 }), fc.integer({ min: 0o1000000, max: 0xfffffffe }));
const header: fc.Arbitrary<TarHeader> = fc
  .record({
    name,
    type: fc.constantFrom('file' as const, 'link' as const, 'symlink' as const, 'directory' as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: id,
    gid: id,
    size: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0o100000000000, max: 2 ** 40 })),
    mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    linkname: fc.oneof(fc.constant(null), name),
  })
  .map((h) => {
    const size = h.type === 'file' ? h.size : 0;
    const linkname = h.type === 'link' || h.type === 'symlink' ? (h.linkname ?? 'target') : null;
    const pax: Record<string, string> = {};
    if (h.gid > 0o777777) pax.gid = String(h.gid);
    if (size > 0o77777777777) pax.size = String(size);
    if (h.uid > 0o777777) pax.uid = String(h.uid);
    return {
      ...h,
      name: h.type === 'directory' ? `${h.name}/` : h.name,
      size,
      linkname,
      pax: Object.keys(pax).length > 0 ? pax : null,
    };
  });

describe('encodeTarHeader()', () => {
  test('encodeTarHeader() writes the bytes tar-stream writes for any name, id, size and link', async () => {
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const mine = encodeTarHeader(h);
        assert.equal(mine.byteLength % 512, 0);
        assert.deepEqual(mine, await tarStreamBytes(h, mine.byteLength));
      }),
      { numRuns: 500 },
    );
  });

  test('encodeTarHeader() uses a PAX header exactly when a name does not fit or is not ASCII', () => {
    const base = { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0, linkname: null, pax: null } as const;
    const long = `${'d'.repeat(150)}/${'f'.repeat(100)}`;
    assert.equal(encodeTarHeader({ ...base, name: 'app/server.js' }).byteLength, 512);
    assert.equal(encodeTarHeader({ ...base, name: long }).byteLength, 512, 'split into the ustar prefix');
    assert.equal(encodeTarHeader({ ...base, name: `${'d'.repeat(160)}/f` }).byteLength, 1536);
    assert.equal(encodeTarHeader({ ...base, name: 'app/é' }).byteLength, 1536);
  });
});
