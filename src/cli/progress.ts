import { formatBytes } from './output.ts';

/** How progress shows on stderr (CLI style rule 8; `--progress`, else FIXITY_PROGRESS, else auto). */
export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/**
 * Progress on stderr, never stdout:
 * - tty: a few status lines redrawn in place;
 * - plain: one timestamped line whenever a line's state changes (its words, not its numbers), and each
 *   line's last numbers at the end: what a CI log wants;
 * - json: the same moments as NDJSON (`{"ts","type":"progress","key","line"}`);
 * - quiet: nothing.
 * auto is tty on a terminal and plain elsewhere, and quiet under a machine output format (`-o json` …) unless
 * a mode is asked for by name.
 */
export function createProgress(options: { json: boolean; mode?: string | undefined }) {
  const asked = options.mode ?? process.env.FIXITY_PROGRESS ?? 'auto';
  const known = (PROGRESS_MODES as readonly string[]).includes(asked) ? (asked as ProgressMode) : 'auto';
  const mode: Exclude<ProgressMode, 'auto'> =
    known !== 'auto' ? known : options.json ? 'quiet' : process.stderr.isTTY === true ? 'tty' : 'plain';
  const lines = new Map<string, string>();
  // plain and json: what was last written per key, and the state it showed.
  const written = new Map<string, { line: string; state: string }>();
  let drawn = 0;
  let timer: NodeJS.Timeout | null = null;
  const draw = () => {
    timer = null;
    if (drawn > 0) process.stderr.write(`\x1b[${drawn}A`);
    const out = [...lines.values()];
    process.stderr.write(out.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = out.length;
  };
  const write = (key: string, line: string) => {
    const now = new Date();
    process.stderr.write(
      mode === 'json'
        ? `${JSON.stringify({ ts: now.toISOString(), type: 'progress', key, line })}\n`
        : `${now.toISOString().slice(11, 19)} ${line.replace(/\s{2,}/g, ' ')}\n`,
    );
  };
  // A line's state: its words without the numbers and sizes that change on every update.
  const stateOf = (line: string) => line.replace(/\d[\d.,]*\s*(?:[KMGT]i?B\b|B\b)?/g, '#').replace(/\s+/g, ' ');
  return {
    set(key: string, line: string) {
      if (mode === 'quiet') return;
      lines.set(key, line);
      if (mode === 'tty') {
        timer ??= setTimeout(draw, 80);
        return;
      }
      const state = stateOf(line);
      if (written.get(key)?.state === state) return;
      written.set(key, { line, state });
      write(key, line);
    },
    done() {
      if (mode === 'quiet') return;
      if (mode === 'tty') {
        if (timer !== null) clearTimeout(timer);
        draw();
        return;
      }
      for (const [key, line] of lines) if (written.get(key)?.line !== line) write(key, line);
      written.clear();
    },
    bytes: formatBytes,
  };
}
