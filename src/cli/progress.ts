import { formatBytes } from './output.ts';

/**
 * Redraws a few status lines in place on stderr when it is a TTY (and FIXITY_PROGRESS is not plain or
 * quiet); otherwise does nothing, so pipes and CI logs see only the final result.
 */
export function createProgress(options: { json: boolean }) {
  const mode = process.env.FIXITY_PROGRESS ?? 'auto';
  const live =
    !options.json && mode !== 'quiet' && mode !== 'plain' && (mode === 'tty' || process.stderr.isTTY === true);
  const lines = new Map<string, string>();
  let drawn = 0;
  let timer: NodeJS.Timeout | null = null;
  const draw = () => {
    timer = null;
    if (drawn > 0) process.stderr.write(`\x1b[${drawn}A`);
    const out = [...lines.values()];
    process.stderr.write(out.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = out.length;
  };
  return {
    set(key: string, line: string) {
      if (!live) return;
      lines.set(key, line);
      timer ??= setTimeout(draw, 80);
    },
    done() {
      if (!live) return;
      if (timer !== null) clearTimeout(timer);
      draw();
    },
    bytes: formatBytes,
  };
}
