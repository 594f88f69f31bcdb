import { parseDuration } from '../defaults.ts';
import { CLIError } from './output.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/**
 * A size as people write it: `10GiB`, `500MiB`, `2G` and `512k` are binary (as in du and docker), `2GB` and
 * `500MB` decimal, a plain number is bytes. Case and a space before the unit do not matter. `what` names
 * the flag or variable in the error.
 */
export function parseByteSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()];
  const bytes = m === null || unit === undefined ? Number.NaN : Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) {
    throw new CLIError('USAGE', `Cannot read ${what} "${text}": not a size`, 'give e.g. 10GiB, 500MiB, 2GB or bytes');
  }
  return bytes;
}

/** A duration in seconds: `90s`, `15m`, `2h`, `7d`, or a plain number of seconds. `what` names the flag in the error. */
export function parseDurationFlag(text: string, what: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new CLIError(
      'USAGE',
      `Cannot read ${what} "${text}": not a duration`,
      'give e.g. 90s, 15m, 2h, 1h30m, 7d or seconds',
    );
  }
}
