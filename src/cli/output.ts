import { createRequire } from 'node:module';
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

/** What `-o` prints: text for people, or one of the machine formats (see `fixity help output`). */
export const OUTPUT_FORMATS = ['text', 'json', 'yaml', 'name', 'jsonl'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface GlobalOptions {
  /** Any machine format (-o json, yaml, name or jsonl, or --json): no progress, no human-only lines. */
  json?: boolean;
  output?: OutputFormat;
  /** A server saved by `fixity login --name` (env FIXITY_CONTEXT). */
  context?: string;
  /** How progress shows on stderr (progress.ts); env FIXITY_PROGRESS. */
  progress?: string;
  server?: string;
  token?: string;
  data?: string;
  /** Absolute times in text output, also on a terminal (style rule 20). */
  utc?: boolean;
}

/**
 * Prints a result as `-o` asks: the human rendering, or the versioned envelope `{apiVersion, kind, …}` as one
 * JSON document, as YAML, one JSON line per item (jsonl), or one name per line (name). See OUTPUT_HELP.
 */
export function emit(options: GlobalOptions, kind: string, value: object, human: () => string): void {
  const format = options.output ?? (options.json ? 'json' : 'text');
  const envelope = { apiVersion: 'fixity.dev/v1', kind, ...value };
  const items = (value as { items?: unknown }).items;
  const each = Array.isArray(items) ? (items as object[]) : [value];
  const out =
    format === 'text'
      ? human()
      : format === 'json'
        ? JSON.stringify(envelope, null, 2)
        : format === 'yaml'
          ? (loadYAML().stringify(envelope) as string).trimEnd()
          : format === 'jsonl'
            ? each.map((item) => JSON.stringify(item)).join('\n')
            : each.map((item) => nameOf(item, kind)).join('\n');
  if (out !== '' || format === 'text') process.stdout.write(`${out}\n`);
}

/** An object's name for `-o name`: its digest, else its name, id, service or environment, else its kind. */
function nameOf(item: object, kind: string): string {
  const o = item as Record<string, unknown>;
  for (const key of ['digest', 'name', 'id', 'service', 'environment']) {
    const v = o[key];
    if (typeof v === 'string' && v !== '') return v;
  }
  return kind;
}

// YAML only when asked for: loading it costs every command's start-up ~10 ms (CLI style rule 20).
const loadYAML = () => createRequire(import.meta.url)('yaml') as { stringify(v: unknown): string };

export const OUTPUT_HELP = `Output formats (-o, --output FORMAT; --json is -o json):

  text   for people, and may change between releases: on a terminal, aligned tables, short digests and
         relative times (3m ago); piped, tab-separated rows, whole digests and RFC 3339 UTC times
  json   one document, the versioned envelope {"apiVersion":"fixity.dev/v1","kind":"…",…}: the contract
  yaml   the same envelope as YAML
  jsonl  one JSON object per line: each item of a list, or the one object
  name   one name per line: each object's digest, else its name, id, service or environment

stdout carries only the result; progress, hints and warnings go to stderr, and with any format but text
there is no progress unless --progress names a mode (fixity help progress). Errors are one JSON line on stderr ({"error":{"code","message","fix"}}) with
every format but text.

  fixity env list -o name
  fixity promote localhost:7070/hello:1.0.0 --to staging --dry-run -o yaml
  fixity token list -o jsonl | jq -r .name`;

/** A failure the user can act on: what happened, why, and the fix last. */
export class CLIError extends BaseError<'FAILED' | 'USAGE' | 'AUTH' | 'TIMEOUT'> {
  readonly fix: string | undefined;
  constructor(
    code: 'FAILED' | 'USAGE' | 'AUTH' | 'TIMEOUT',
    message: string,
    fix?: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.fix = fix;
  }
}

const color = (fmt: Parameters<typeof styleText>[0], text: string) => styleText(fmt, text, { stream: process.stderr });

// Style rule 7's ASCII fallback: the status symbols in words a non-UTF-8 terminal shows, and the other
// symbols text output uses.
const ASCII: ReadonlyArray<readonly [string, string]> = [
  ['✔', '[ok]'],
  ['✘', '[x]'],
  ['✖', '[x]'],
  ['◌', '[..]'],
  ['◷', '[wait]'],
  ['॥', '[||]'],
  ['⚠', '[!]'],
  ['Δ', '[~]'],
  ['⛔', '[veto]'],
  ['📦 ', ''],
  ['►', '>'],
  ['▶', '>'],
  ['→', '->'],
  ['←', '<-'],
  ['…', '...'],
  ['·', '-'],
  ['—', '-'],
  ['–', '-'],
];

/** `text` with the symbols of text output spelt in ASCII (style rule 7). */
export function asciiText(text: string): string {
  let out = text;
  for (const [symbol, word] of ASCII) out = out.replaceAll(symbol, word);
  return out;
}

/** Whether text output should be ASCII: --ascii, FIXITY_ASCII=1, or a locale that is not UTF-8. */
export function wantsAscii(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (argv.includes('--ascii') || env.FIXITY_ASCII === '1') return true;
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return !/utf-?8/i.test(locale);
}

/** Makes everything written to stdout and stderr ASCII (text output only: JSON and YAML stay as they are). */
export function asciiOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === 'string' ? asciiText(chunk) : chunk, ...rest)) as typeof stream.write;
  }
}

/** Whether output is for a terminal: stdout is one, or FIXITY_FORCE_TTY=1 (as GH_FORCE_TTY). */
export function stdoutIsTerminal(): boolean {
  return process.stdout.isTTY === true || process.env.FIXITY_FORCE_TTY === '1';
}

/**
 * A time in text output (style rule 5): on a terminal relative to now ("3m ago", "in 2h", a date past two
 * weeks), elsewhere as given (RFC 3339, UTC), for scripts. `-` for none.
 */
export function when(iso: string | null | undefined, now: number = Date.now()): string {
  if (iso === null || iso === undefined || iso === '') return '-';
  const at = Date.parse(iso);
  if (!stdoutIsTerminal() || Number.isNaN(at) || absolute || process.env.FIXITY_UTC === '1') return iso;
  return relativeTime(at, now);
}

let absolute = false;
/** --utc: `when` gives times as RFC 3339 UTC on a terminal too. */
export function absoluteTimes(): void {
  absolute = true;
}

/** `at` said relative to `now`: 45s ago, 12m ago, 5h ago, 3d ago, in 2h; a date (UTC) beyond 14 days. */
export function relativeTime(at: number, now: number): string {
  const seconds = Math.round((now - at) / 1000);
  const span = Math.abs(seconds);
  const say = (n: number, unit: string) => (seconds >= 0 ? `${n}${unit} ago` : `in ${n}${unit}`);
  if (span < 5) return 'just now';
  if (span < 90) return say(span, 's');
  if (span < 90 * 60) return say(Math.round(span / 60), 'm');
  if (span < 36 * 3600) return say(Math.round(span / 3600), 'h');
  if (span < 14 * 86400) return say(Math.round(span / 86400), 'd');
  return new Date(at).toISOString().slice(0, 10);
}

/** A digest in text output: `sha256:9c21de07…` on a terminal, whole elsewhere. */
export function shortDigest(digest: string): string {
  return stdoutIsTerminal() && digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

/** The next useful command after a change, on stderr for people (CLI style rule 18); none for machine formats. */
export function hint(options: GlobalOptions, next: string): void {
  if (!options.json) process.stderr.write(`${color('dim', 'Next:')} ${next}\n`);
}

/** Prints `err` for people or as one JSON line, naming the debug log when one was written; returns the exit code. */
export function reportError(err: unknown, json: boolean, debugLog: string | null = null): number {
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
            : code === 'TIMEOUT'
              ? EXIT.timeout
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
  const log = debugLog === null ? {} : { debugLog };
  if (json) process.stderr.write(`${JSON.stringify({ error: { code, message, ...(fix ? { fix } : {}), ...log } })}\n`);
  else
    process.stderr.write(
      `${color('red', 'error:')} ${message}\n${fix ? `  ${color('bold', 'fix:')} ${fix}\n` : ''}${debugLog === null ? '' : `debug log: ${debugLog}\n`}`,
    );
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
  const tty = stdoutIsTerminal();
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
