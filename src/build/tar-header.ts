/**
 * Tar header blocks for one entry, byte for byte as tar-stream 3 writes them (headers.js `encode`, pack.js
 * `_encodePax`), so layers keep their digests while being written without a stream per entry:
 *
 * - USTAR: octal fields zero-padded and space-terminated; a name over 100 bytes is split at its first slashes
 *   into the 155-byte prefix; a size past 11 octal digits in base-256; uname/gname empty; devmajor/minor 0.
 * - PAX when `pax` records are given, or the name is not ASCII or does not fit, or the linkname is over 100
 *   bytes: a `PaxHeader` block (typeflag x) with `path`, `linkpath` and the given records, then the entry's
 *   own header, also named `PaxHeader`.
 */

export interface TarHeader {
  /** With a trailing `/` for a directory. */
  name: string;
  type: 'file' | 'link' | 'symlink' | 'directory';
  /** Permission bits; higher bits are ignored. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname: string | null;
  /** Extra PAX records, in order; null for none. */
  pax: Record<string, string> | null;
}

export const BLOCK = 512;

const ZEROS = '0000000000000000000';
const SEVENS = '7777777777777777777';
const TYPEFLAG = { file: 0, link: 1, symlink: 2, directory: 5, 'pax-header': 72 } as const;
const USTAR = Buffer.from('ustar\x0000', 'latin1');

/** The header block(s) of `h`: 512 bytes, or with PAX, a padded extended header before them. */
export function encodeTarHeader(h: TarHeader): Buffer {
  const plain = h.pax === null ? encodeUstar(h.name, h.type, h, h.linkname, h.size) : null;
  if (plain !== null) return plain;
  let records = record('path', h.name);
  if (h.linkname) records += record('linkpath', h.linkname);
  for (const [key, value] of Object.entries(h.pax ?? {})) records += record(key, value);
  const body = Buffer.from(records);
  const link = h.linkname ? 'PaxHeader' : null;
  const padded = Math.ceil(body.byteLength / BLOCK) * BLOCK;
  const out = Buffer.alloc(2 * BLOCK + padded);
  encodeUstar('PaxHeader', 'pax-header', h, link, body.byteLength)!.copy(out, 0);
  body.copy(out, BLOCK);
  encodeUstar('PaxHeader', h.type, h, link, h.size)!.copy(out, BLOCK + padded);
  return out;
}

// headers.js encode(): null when the name or linkname does not fit a USTAR header.
function encodeUstar(
  fullName: string,
  type: TarHeader['type'] | 'pax-header',
  h: TarHeader,
  linkname: string | null,
  size: number,
): Buffer | null {
  let name = fullName;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return null;
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return null;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return null;
  if (linkname && Buffer.byteLength(linkname) > 100) return null;
  const buf = Buffer.alloc(BLOCK);
  buf.write(name, 0, 'latin1');
  buf.write(octal(h.mode & 0o7777, 6), 100, 'latin1');
  buf.write(octal(h.uid, 6), 108, 'latin1');
  buf.write(octal(h.gid, 6), 116, 'latin1');
  if (size.toString(8).length > 11) {
    buf[124] = 0x80;
    for (let i = 11, n = size; i > 0; i--, n = Math.floor(n / 0x100)) buf[124 + i] = n & 0xff;
  } else buf.write(octal(size, 11), 124, 'latin1');
  buf.write(octal(h.mtime | 0, 11), 136, 'latin1');
  buf[156] = 0x30 + TYPEFLAG[type];
  if (linkname) buf.write(linkname, 157);
  USTAR.copy(buf, 257);
  buf.write(octal(0, 6), 329, 'latin1');
  buf.write(octal(0, 6), 337, 'latin1');
  if (prefix) buf.write(prefix, 345, 'latin1');
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += buf[i]!;
  for (let i = 156; i < BLOCK; i++) sum += buf[i]!;
  buf.write(octal(sum, 6), 148, 'latin1');
  return buf;
}

function octal(value: number, digits: number): string {
  const text = value.toString(8);
  return text.length > digits ? `${SEVENS.slice(0, digits)} ` : `${ZEROS.slice(0, digits - text.length)}${text} `;
}

// headers.js addLength(), including its float arithmetic: "<length> key=value\n", length counting itself.
function record(key: string, value: string): string {
  const text = ` ${key}=${value}\n`;
  const length = Buffer.byteLength(text);
  let digits = Math.floor(Math.log(length) / Math.log(10)) + 1;
  if (length + digits >= 10 ** digits) digits++;
  return `${length + digits}${text}`;
}
