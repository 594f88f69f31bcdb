// What the CLI needs from the composition root without loading it: the version, default places and the
// duration grammar. src/main.ts wires the whole server (Fastify, both databases, every room); a command
// that only talks to a server must not pay for loading it.
import { readFileSync } from 'node:fs';
import { durationMs } from './core/duration.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
export const DEFAULT_DATA_DIR = '.fixity';
export const DEFAULT_PORT = 7070;

/** Seconds of `90s`, `15m`, `2h`, `7d`, `1h30m` (see durationMs) or of a plain number of seconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : durationMs(trimmed);
  if (ms === null) throw new RangeError(`Cannot parse duration "${text}": use e.g. 90s, 15m, 2h, 7d or 1h30m`);
  return ms / 1000;
}
