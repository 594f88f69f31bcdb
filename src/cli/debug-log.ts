/**
 * `--debug` (CLI style rule 12): errors print no stack traces, but with --debug (or FIXITY_DEBUG=1) a failed
 * command writes what a bug report needs into a log file of its own and prints its path: the command line
 * with secrets redacted, the versions, and the error with its stack and every cause.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../defaults.ts';

/** Whether this run asked for a debug log on failure. */
export function wantsDebug(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return argv.includes('--debug') || env.FIXITY_DEBUG === '1';
}

/** The directory debug logs go to: $XDG_STATE_HOME/fixity/debug (default ~/.local/state/fixity/debug). */
export function debugDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'fixity', 'debug');
}

// Option values that are secrets, as `--token X` or `--token=X`.
const SECRET_OPTIONS = new Set(['--token', '--password']);

/** `argv` with the values of secret options replaced. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((arg, i) => {
    const [name] = arg.split('=', 1);
    if (SECRET_OPTIONS.has(name!) && arg.includes('=')) return `${name}=<redacted>`;
    if (i > 0 && SECRET_OPTIONS.has(argv[i - 1]!)) return '<redacted>';
    return arg.startsWith('fxt_') ? '<redacted>' : arg;
  });
}

/** Writes the debug log of `err` (mode 0600) and returns its path. */
export function writeDebugLog(err: unknown, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const dir = debugDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const at = new Date();
  const file = join(dir, `${at.toISOString().replaceAll(':', '-')}-${process.pid}.log`);
  const causes: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    const error = e as { stack?: unknown; message?: unknown; code?: unknown; cause?: unknown };
    const head = depth === 0 ? 'error' : `cause ${depth}`;
    const code = error.code === undefined ? '' : ` [${String(error.code)}]`;
    causes.push(`${head}${code}:\n${typeof error.stack === 'string' ? error.stack : String(error.message ?? e)}`);
    e = error.cause;
  }
  const text = [
    `fixity ${VERSION} debug log, ${at.toISOString()}`,
    `command: ${redactArgv(argv.slice(2)).join(' ')}`,
    `node ${process.version} on ${process.platform} ${process.arch}; cwd ${process.cwd()}`,
    '',
    ...causes,
    '',
  ].join('\n');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}
