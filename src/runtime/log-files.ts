import { access, open, rename, rm } from 'node:fs/promises';

/** Bytes read at a time when looking for the last lines from the end of a file. */
const READ_BACK = 64 * 1024;

const rotated = (log: string, n: number) => (n === 0 ? log : `${log}.${n}`);

/**
 * Shifts `log` to `log.1`, `log.1` to `log.2`… up to the first free number, keeping at most `keep` rotated files:
 * the oldest is overwritten. Each rename replaces its target at once, so a rotation a crash cut short leaves at
 * most a gap, which the next rotation fills.
 */
export async function rotateLog(log: string, keep: number): Promise<void> {
  if (keep === 0) return rm(log, { force: true });
  let free = 1;
  while (free < keep && (await exists(rotated(log, free)))) free++;
  for (let n = free; n >= 1; n--) {
    await rename(rotated(log, n - 1), rotated(log, n)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** The last `lines` lines of `log`, continued from `log.1`, `log.2`… while it holds fewer. */
export async function readLastLines(log: string, lines: number): Promise<string[]> {
  const found: string[] = [];
  for (let n = 0; found.length < lines; n++) {
    const got = await lastLinesOf(rotated(log, n), lines - found.length);
    // `log` is missing right after a rotation; a missing rotated file means there are no older ones.
    if (got === null && n > 0) break;
    found.unshift(...(got ?? []));
  }
  return found;
}

/** Reads back from the end only as far as the lines asked for, so a long log costs no more than a short one. */
async function lastLinesOf(file: string, lines: number): Promise<string[] | null> {
  const handle = await open(file, 'r').catch(() => null);
  if (handle === null) return null;
  try {
    const parts: Buffer[] = [];
    let newlines = 0;
    // One newline more than lines wanted marks where the first of them starts.
    for (let pos = (await handle.stat()).size; pos > 0 && newlines <= lines; ) {
      const len = Math.min(READ_BACK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await handle.read(buf, 0, len, pos);
      parts.unshift(buf);
      for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) newlines++;
    }
    return Buffer.concat(parts)
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .slice(-lines);
  } finally {
    await handle.close();
  }
}
