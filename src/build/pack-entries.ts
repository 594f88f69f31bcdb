/**
 * Feeds FileEntry records into a tar-stream pack, one at a time, as deterministic tar headers:
 *
 * - USTAR headers (tar-stream writes octal fields space-terminated); a long path is split into the ustar
 *   prefix when it fits, and PAX records are added only when a name or linkname does not fit or is not
 *   ASCII (`path`, `linkpath`), or an id or size overflows the ustar field (`gid`, `size`, `uid`, in that
 *   order). No atime/ctime records, no global headers.
 * - mtime is the given SOURCE_DATE_EPOCH for every entry; uid/gid come from the entry; uname/gname are empty.
 * - Directories are named with a trailing `/`; hardlinks are typeflag 1 with size 0 and linkname = the first
 *   path of the inode; symlinks keep their target text.
 * - Each file is re-read and re-hashed on its way into the tar: content that no longer matches the collected
 *   digest or size fails with SOURCE_CHANGED naming the file, and the layer is discarded. Small files are read
 *   whole, a bounded window ahead, so thousands of them do not cost one round of open/read/close each in turn;
 *   larger ones stream in 1 MiB chunks.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Pack } from 'tar-stream';
import { toSourceError } from './build-error.ts';
import { openSourceFile, sourceChangedError } from './source-file.ts';
import type { FileEntry } from './source-tree.ts';

const CHUNK = 256 << 10; // fresh 1 MiB buffers are slower to fault in than four of these
const READ_AHEAD_FILES = 16;
const READ_AHEAD_MAX_SIZE = 256 << 10;
const USTAR_ID_MAX = 0o777777;
const USTAR_SIZE_MAX = 0o77777777777;
// File-type bits ride along with the permission bits: tar-stream masks them off, but a bare mode of 0 would
// otherwise be replaced by its default 0644/0755.
const TYPE_BITS = { file: 0o100000, hardlink: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;
const TAR_TYPE = { file: 'file', hardlink: 'link', directory: 'directory', symlink: 'symlink' } as const;

type Sink = ReturnType<Pack['entry']>;

/** Writes `entries` into `pack` in order and finalizes it; rejects (leaving `pack` to the caller) on failure. */
export async function packEntries(
  pack: Pack,
  entries: readonly FileEntry[],
  options: { mtime: number; signal?: AbortSignal; onEntry?: () => void },
): Promise<void> {
  const mtime = new Date(options.mtime * 1000);
  const { signal } = options;
  const small = (e: FileEntry) => e.type === 'file' && e.size <= READ_AHEAD_MAX_SIZE;
  const ahead = new Map<number, Promise<Buffer>>();
  let next = 0;
  for (const [index, entry] of entries.entries()) {
    signal?.throwIfAborted();
    for (next = Math.max(next, index); next < entries.length && ahead.size < READ_AHEAD_FILES; next++) {
      if (!small(entries[next]!)) continue;
      const read = readSmallFile(entries[next]!);
      read.catch(() => {}); // awaited in order below
      ahead.set(next, read);
    }
    const body = ahead.get(index);
    ahead.delete(index);
    const size = entry.type === 'file' ? entry.size : 0;
    const pax: Record<string, string> = {};
    if (entry.gid > USTAR_ID_MAX) pax.gid = String(entry.gid);
    if (size > USTAR_SIZE_MAX) pax.size = String(size);
    if (entry.uid > USTAR_ID_MAX) pax.uid = String(entry.uid);
    const header = {
      name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
      type: TAR_TYPE[entry.type],
      mode: TYPE_BITS[entry.type] | entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size,
      mtime,
      ...(entry.linkname === null ? {} : { linkname: entry.linkname }),
      ...(Object.keys(pax).length > 0 ? { pax } : {}),
    };
    const content = body === undefined ? undefined : await body;
    let sink: Sink | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null) => (err ? reject(err) : resolve());
      sink = content === undefined ? pack.entry(header, callback) : pack.entry(header, content, callback);
    });
    done.catch(() => {}); // awaited below unless the file fails first; then the caller destroys the pack
    sink!.on('error', () => {}); // a destroyed entry's error reaches `done`; unheard it would crash the process
    if (entry.type === 'file' && content === undefined) await streamFile(entry, sink!, signal);
    await done;
    options.onEntry?.();
  }
  pack.finalize();
}

async function readSmallFile(entry: FileEntry): Promise<Buffer> {
  const path = entry.source!;
  const { handle } = await openSourceFile(path);
  try {
    const buffer = Buffer.allocUnsafe(entry.size + 1); // one byte more, to notice a file that grew
    let total = 0;
    for (;;) {
      const bytesRead = await handle.read(buffer, total, buffer.length - total, null).then(
        (r) => r.bytesRead,
        (err: unknown) => Promise.reject(toSourceError(err, path)),
      );
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > entry.size) throw sourceChangedError(path, `it grew past ${entry.size} bytes`);
    }
    const body = buffer.subarray(0, total);
    checkContent(entry, total, createHash('sha256').update(body));
    return body;
  } finally {
    await handle.close();
  }
}

async function streamFile(entry: FileEntry, sink: Sink, signal: AbortSignal | undefined): Promise<void> {
  const path = entry.source!;
  const { handle } = await openSourceFile(path);
  try {
    const hash = createHash('sha256');
    let total = 0;
    for (;;) {
      signal?.throwIfAborted();
      // Fresh buffers: the pack keeps a reference to each chunk until it has been read. One byte past the
      // expected size is asked for, to notice a file that grew.
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, entry.size - total + 1));
      const bytesRead = await handle.read(buffer, 0, buffer.length, null).then(
        (r) => r.bytesRead,
        (err: unknown) => Promise.reject(toSourceError(err, path)),
      );
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > entry.size) throw sourceChangedError(path, `it grew past ${entry.size} bytes`);
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      await write(sink, chunk);
    }
    checkContent(entry, total, hash);
    sink.end(null);
  } finally {
    await handle.close();
  }
}

function checkContent(entry: FileEntry, size: number, hash: Hash): void {
  if (size < entry.size) throw sourceChangedError(entry.source!, `it shrank from ${entry.size} to ${size} bytes`);
  if (`sha256:${hash.digest('hex')}` !== entry.digest) throw sourceChangedError(entry.source!, 'its content changed');
}

function write(sink: Sink, chunk: Buffer): Promise<void> {
  if (sink.destroyed) return Promise.reject(new Error('Cannot write tar entry: the layer was stopped'));
  if (sink.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      off();
      resolve();
    };
    const onClose = () => {
      off();
      reject(new Error('Cannot write tar entry: the layer was stopped'));
    };
    const off = () => {
      sink.removeListener('drain', onDrain);
      sink.removeListener('close', onClose);
    };
    sink.on('drain', onDrain);
    sink.on('close', onClose);
  });
}
