import { createHash } from 'node:crypto';
import { fstatSync, ftruncateSync } from 'node:fs';
import { appendFile, type FileHandle, open, readFile, rename, stat, truncate, writeFile } from 'node:fs/promises';
import { readLastLines, rotateLog } from './log-files.ts';

/** Copies a process's raw output into the labelled log, line by line; survives a driver restart. */
export interface LogTail {
  /** Labels and appends everything written so far (a trailing partial line waits unless `final`). */
  flush(final?: boolean): Promise<void>;
  /** Flushes, then returns the last `lines` labelled lines, older ones from the rotated files. */
  lastLines(lines: number): Promise<string[]>;
  stop(): void;
}

/** Like Docker's json-file `max-size` and `max-file`: bounds the disk an instance's logs can take. */
export interface LogRotation {
  /**
   * `log` rotates before it would grow past this (a longer line gets a file of its own); `output` is emptied once
   * it was read to its end past this.
   */
  readonly maxBytes?: number;
  /** Rotated files kept (`log.1` is the newest); the oldest is deleted. */
  readonly maxFiles?: number;
}

/** The files a tail works on, all in the instance's directory. */
export interface LogFiles {
  /** The process's stdout and stderr, opened O_APPEND by the process itself. */
  readonly output: string;
  /** The labelled lines; rotates to `log.1`, `log.2`… */
  readonly log: string;
  /** Where the tail remembers how far it got (see {@link TailState}). */
  readonly offset: string;
}

export interface LogTailOptions extends LogRotation {
  /** Put in front of each line (labels and time), asked once per batch. */
  readonly prefix: () => string;
}

const POLL_MS = 250;
/** Bytes read from `output` at once: bounds memory after a long downtime and makes rotation fine-grained. */
const CHUNK = 1024 * 1024;
/** Times a flush reads what arrived meanwhile and tries again to empty `output` before it gives up till the next. */
const TRUNCATE_TRIES = 3;
const NEWLINE = Buffer.from('\n');

/** Applies the defaults (16 MiB, 3 rotated files) and refuses limits that cannot work. */
export function resolveLogRotation(rotation: LogRotation = {}): Required<LogRotation> {
  const { maxBytes = 16 * 1024 * 1024, maxFiles = 3 } = rotation;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`Cannot rotate logs at ${maxBytes} bytes: give a whole number of bytes, at least 1`);
  }
  if (!Number.isSafeInteger(maxFiles) || maxFiles < 0) {
    throw new RangeError(`Cannot keep ${maxFiles} rotated logs: give a whole number, 0 or more`);
  }
  return { maxBytes, maxFiles };
}

/**
 * What `log.offset` holds: `output` bytes consumed and the size `log` had once their lines were in it. Both are
 * saved together (write and rename) after every append, rotation and truncation, so a crash in between is undone
 * at the next start: a longer `log` is cut back and the lines appended again, a shorter one was rotated.
 * `emptying` is saved just before `output` is emptied (see {@link Emptying}).
 */
interface TailState {
  output: number;
  log: number;
  emptying?: Emptying;
}

/**
 * The `output` a tail is about to empty: its size and the SHA-256 of its bytes, all consumed. After a crash, an
 * `output` that still starts with those bytes was not emptied; any other was, and whatever it holds now is new.
 * (Only a process writing the very same bytes again after the emptying could be mistaken for them.)
 */
interface Emptying {
  size: number;
  sha256: string;
}

const isOffset = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

const isEmptying = (v: unknown): v is Emptying =>
  typeof v === 'object' && v !== null && isOffset((v as Emptying).size) && typeof (v as Emptying).sha256 === 'string';

/** A missing or unreadable state starts from the beginning of `output` with `log` as it is (duplicates, no loss). */
function parseState(text: string): { output: number; log: number | null; emptying?: Emptying } {
  try {
    const v: unknown = JSON.parse(text);
    if (isOffset(v)) return { output: v, log: null }; // the format before rotation: the offset alone
    const s = v as Partial<TailState>;
    if (isOffset(s.output) && isOffset(s.log)) {
      return isEmptying(s.emptying)
        ? { output: s.output, log: s.log, emptying: s.emptying }
        : { output: s.output, log: s.log };
    }
  } catch {}
  return { output: 0, log: null };
}

/** SHA-256 of the first `size` bytes of the open file, or null if it is shorter. */
async function headDigest(handle: FileHandle, size: number): Promise<string | null> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
  for (let at = 0; at < size; ) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - at), at);
    if (bytesRead === 0) return null;
    hash.update(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
  return hash.digest('hex');
}

/** Whether `output` was emptied after `emptying` was saved: it no longer starts with the bytes it had then. */
async function wasEmptied(output: string, emptying: Emptying): Promise<boolean> {
  const handle = await open(output, 'r').catch(() => null);
  if (handle === null) return true;
  try {
    return (await headDigest(handle, emptying.size)) !== emptying.sha256;
  } finally {
    await handle.close();
  }
}

async function saveState(file: string, state: TailState): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state)}\n`);
  await rename(tmp, file);
}

const sizeOf = (file: string) =>
  stat(file).then(
    (s) => s.size,
    () => 0,
  );

/** Reads the saved state and undoes what a crash left half done (see {@link TailState}). */
async function recover(files: LogFiles): Promise<TailState> {
  const saved = parseState(await readFile(files.offset, 'utf8').catch(() => ''));
  const logSize = await sizeOf(files.log);
  if (saved.log !== null && logSize > saved.log) await truncate(files.log, saved.log);
  const emptied = saved.emptying !== undefined && (await wasEmptied(files.output, saved.emptying));
  const state = { output: emptied ? 0 : saved.output, log: Math.min(saved.log ?? logSize, logSize) };
  await saveState(files.offset, state);
  return state;
}

/** Splits complete lines (the last one maybe unterminated) and labels them, each with the output bytes it used. */
function labelLines(bytes: Buffer, prefix: Buffer): Array<{ raw: number; line: Buffer }> {
  const lines: Array<{ raw: number; line: Buffer }> = [];
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    lines.push({
      raw: end - start + (nl === -1 ? 0 : 1),
      line: Buffer.concat([prefix, bytes.subarray(start, end), NEWLINE]),
    });
    start = end + 1;
  }
  return lines;
}

/**
 * The process writes straight to `output` (so it outlives the driver); this copies complete lines to `log` with
 * `prefix()` in front, rotates `log` before it would pass `maxBytes` and empties `output` once it has read all of it
 * and it is past `maxBytes` (copytruncate: the process's O_APPEND writes go on at the new end).
 */
export async function startLogTail(files: LogFiles, options: LogTailOptions): Promise<LogTail> {
  const { maxBytes, maxFiles } = resolveLogRotation(options);
  const state = await recover(files);
  let chain: Promise<void> = Promise.resolve();

  /** Appends lines and saves the state; a failed append is cut back so `log` keeps matching the state. */
  const append = async (lines: Buffer[], raw: number) => {
    const bytes = Buffer.concat(lines);
    try {
      await appendFile(files.log, bytes);
    } catch (err) {
      await truncate(files.log, state.log).catch(() => {});
      throw err;
    }
    state.log += bytes.length;
    state.output += raw;
    await saveState(files.offset, state);
  };

  const rotate = async () => {
    await rotateLog(files.log, maxFiles);
    state.log = 0;
    await saveState(files.offset, state);
  };

  /** Appends labelled lines in batches, rotating between two when the next line would take `log` past the limit. */
  const write = async (lines: Array<{ raw: number; line: Buffer }>) => {
    let batch: Buffer[] = [];
    let bytes = 0;
    let raw = 0;
    for (const l of lines) {
      if (state.log + bytes > 0 && state.log + bytes + l.line.length > maxBytes) {
        if (batch.length > 0) await append(batch, raw);
        await rotate();
        [batch, bytes, raw] = [[], 0, 0];
      }
      batch.push(l.line);
      bytes += l.line.length;
      raw += l.raw;
    }
    if (batch.length > 0) await append(batch, raw);
  };

  /** Copies `output` up to `size`; a partial line at the end waits unless `final` (or it fills a whole chunk). */
  const consume = async (handle: FileHandle, size: number, final: boolean) => {
    const prefix = Buffer.from(options.prefix());
    while (state.output < size) {
      const buf = Buffer.alloc(Math.min(CHUNK, size - state.output));
      const { bytesRead } = await handle.read(buf, 0, buf.length, state.output);
      if (bytesRead === 0) return;
      const atEnd = state.output + bytesRead >= size;
      let end = final && atEnd ? bytesRead : buf.lastIndexOf(0x0a, bytesRead - 1) + 1;
      if (end === 0 && bytesRead === CHUNK) end = bytesRead; // a line longer than a chunk is split
      if (end === 0) return;
      await write(labelLines(buf.subarray(0, end), prefix));
    }
  };

  /**
   * Empties `output` if nothing arrived since it was read to its end. Bytes the process writes between the fstat and
   * the ftruncate, two back-to-back system calls with no await between, are lost: that window cannot be closed
   * without the process's help. What `output` held is saved first ({@link Emptying}), so a crash between the
   * ftruncate and the next save is told apart at the next start even when the process has written more since.
   */
  const emptyOutput = async (handle: FileHandle): Promise<boolean> => {
    const sha256 = await headDigest(handle, state.output);
    if (sha256 === null) return false;
    await saveState(files.offset, { ...state, emptying: { size: state.output, sha256 } });
    if (fstatSync(handle.fd).size !== state.output) {
      await saveState(files.offset, state);
      return false;
    }
    ftruncateSync(handle.fd, 0);
    state.output = 0;
    await saveState(files.offset, state);
    return true;
  };

  const step = async (final: boolean): Promise<void> => {
    const size = await sizeOf(files.output);
    if (size === state.output && size <= maxBytes) return;
    const handle = await open(files.output, 'r+').catch(() => null);
    if (handle === null) return;
    try {
      for (let tries = 0; tries < TRUNCATE_TRIES; tries++) {
        const now = (await handle.stat()).size;
        // Shorter than what was consumed: emptied behind this tail's back (a state saved before `emptying` existed).
        if (now < state.output) state.output = 0;
        await consume(handle, now, final);
        if (state.output !== now || now <= maxBytes || (await emptyOutput(handle))) return;
      }
    } finally {
      await handle.close();
    }
  };

  /** Runs `work` after what is queued, so steps and reads never overlap (no rotation renames a file being read). */
  const queue = <T>(work: () => Promise<T>): Promise<T> => {
    const run = chain.then(work);
    chain = run.then(
      () => {},
      () => {},
    );
    return run;
  };
  const flush = (final = false) => queue(() => step(final)).catch(() => {});
  const lastLines = (lines: number) =>
    queue(async () => {
      await step(false).catch(() => {});
      return readLastLines(files.log, lines);
    });
  const timer = setInterval(() => void flush(), POLL_MS);
  return { flush, lastLines, stop: () => clearInterval(timer) };
}
