import { styleText } from 'node:util';
import { BaseError } from '../core/index.ts';

/** Exit codes from the CLI style guide (`fixity help exit-codes`). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  denied: 3,
  auth: 4,
  timeout: 5,
  unsuccessful: 6,
  verification: 7,
} as const;

export interface GlobalOptions {
  json?: boolean;
  server?: string;
  token?: string;
  data?: string;
}

/** Prints a result: one JSON document with --json, else the human rendering. */
export function emit(options: GlobalOptions, kind: string, value: object, human: () => string): void {
  if (options.json)
    process.stdout.write(`${JSON.stringify({ apiVersion: 'fixity.dev/v1', kind, ...value }, null, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

/** A failure the user can act on: what happened, why, and the fix last. */
export class CLIError extends BaseError<'FAILED' | 'USAGE' | 'AUTH'> {
  readonly fix: string | undefined;
  constructor(code: 'FAILED' | 'USAGE' | 'AUTH', message: string, fix?: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.fix = fix;
  }
}

const color = (fmt: Parameters<typeof styleText>[0], text: string) => styleText(fmt, text, { stream: process.stderr });

export function reportError(err: unknown, json: boolean): number {
  const code = err instanceof BaseError ? String(err.code) : 'FAILED';
  const exit =
    code === 'USAGE'
      ? EXIT.usage
      : code === 'AUTH' || code === 'UNAUTHENTICATED' || code === 'FORBIDDEN'
        ? EXIT.auth
        : code === 'REFUSED'
          ? EXIT.denied
          : code === 'CONFLICT'
            ? EXIT.unsuccessful
            : EXIT.failed;
  const message = err instanceof Error ? err.message : String(err);
  const fix =
    err instanceof CLIError
      ? err.fix
      : code === 'UNAUTHENTICATED'
        ? 'pass --token, set FIXITY_TOKEN, or run from the directory holding .fixity/admin.token'
        : code === 'UNREACHABLE'
          ? 'start the server with `fixity serve` (or `npm start`), or pass --server URL'
          : undefined;
  if (json) process.stderr.write(`${JSON.stringify({ error: { code, message, ...(fix ? { fix } : {}) } })}\n`);
  else
    process.stderr.write(`${color('red', 'error:')} ${message}\n${fix ? `  ${color('bold', 'fix:')} ${fix}\n` : ''}`);
  return exit;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const tty = process.stdout.isTTY === true || process.env.FIXITY_FORCE_TTY === '1';
  return rows
    .map((r) =>
      tty
        ? r
            .map((cell, c) => cell.padEnd(widths[c]!))
            .join('  ')
            .trimEnd()
        : r.join('\t'),
    )
    .join('\n');
}
