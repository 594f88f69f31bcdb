import { open, readFile, stat, writeFile } from 'node:fs/promises';

/** Copies a process's raw output into the labelled log, line by line; survives a driver restart. */
export interface LogTail {
  /** Labels and appends everything written so far (a trailing partial line waits unless `final`). */
  flush(final?: boolean): Promise<void>;
  stop(): void;
}

const POLL_MS = 250;

/**
 * The process writes straight to `output` (so it outlives the driver); this copies complete lines to `log`
 * with `prefix()` in front, remembering how far it got in `offsetFile`.
 */
export async function startLogTail(output: string, log: string, offsetFile: string, prefix: () => string) {
  let offset = Number((await readFile(offsetFile, 'utf8').catch(() => '0')).trim()) || 0;
  let chain: Promise<void> = Promise.resolve();
  const step = async (final: boolean): Promise<void> => {
    const size = await stat(output).then(
      (s) => s.size,
      () => 0,
    );
    if (size <= offset) return;
    const handle = await open(output, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
    const end = final ? text.length : text.lastIndexOf('\n') + 1;
    if (end === 0) return;
    const lines = text.slice(0, end).replace(/\n$/, '').split('\n');
    const p = prefix();
    await writeFile(log, `${lines.map((l) => p + l).join('\n')}\n`, { flag: 'a' });
    offset += Buffer.byteLength(text.slice(0, end));
    await writeFile(offsetFile, String(offset));
  };
  const flush = (final = false) => {
    chain = chain.then(() => step(final)).catch(() => {});
    return chain;
  };
  const timer = setInterval(() => void flush(), POLL_MS);
  return {
    flush,
    stop: () => clearInterval(timer),
  } satisfies LogTail;
}
