// What the CLI needs from the composition root without loading it: the version, default places and the
// duration grammar. src/main.ts wires the whole server (Fastify, both databases, every room); a command
// that only talks to a server must not pay for loading it.
import { readFileSync } from 'node:fs';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
export const DEFAULT_DATA_DIR = '.fixity';
export const DEFAULT_PORT = 7070;

/** `90s`, `15m`, `2h`, `7d` or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (m === null) throw new RangeError(`Cannot parse duration "${text}": use e.g. 90s, 15m, 2h, 7d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}
