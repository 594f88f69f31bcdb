const UNIT_MS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
const UNITS = ['w', 'd', 'h', 'm', 's'] as const;
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * Milliseconds of a duration such as `90s`, `30m`, `2h`, `1d`, `2w` or `1h30m` (units largest first; d = 24 h,
 * w = 7 d), or null when `text` is not one. The one grammar of durations, in YAML and on the command line.
 */
export function durationMs(text: string): number | null {
  const match = text === '' ? null : DURATION.exec(text);
  if (match === null) return null;
  return UNITS.reduce((sum, unit, i) => sum + Number(match[i + 1] ?? 0) * UNIT_MS[unit], 0);
}
