import { parseDuration } from './windows.ts';

const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

/**
 * A report bound: a duration back from `now` (`7d`, `12h`, `1h30m`), an RFC 3339 time, or a date (UTC
 * midnight). Null when `text` is none of these.
 */
export function parseAuditTime(text: string, now: Date): Date | null {
  if (RFC3339.test(text)) {
    const t = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
    return Number.isNaN(t) ? null : new Date(t);
  }
  try {
    return new Date(now.getTime() - parseDuration(text));
  } catch {
    return null;
  }
}
