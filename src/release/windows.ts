import { durationMs } from '../core/index.ts';
import { ReleaseError } from './release-error.ts';

/** An allow or deny window: occurrences of an RFC 5545 rule, each lasting `duration`, in an IANA time zone. */
export interface WindowSpec {
  readonly kind: 'allow' | 'deny';
  /** `FREQ=WEEKLY;BYDAY=MO,TU;BYHOUR=9`, optionally after a `DTSTART:20240101T090000` line (local time). */
  readonly rrule: string;
  readonly duration: string;
  readonly timezone: string;
}

export interface WindowState {
  readonly open: boolean;
  readonly reason: string;
  /** When a closed state next turns open (null when open, or when no opening comes within two years). */
  readonly nextOpening: Date | null;
}

/** A parsed rule. Days are civil day numbers (days since 1970-01-01), weekdays 0 = Monday. */
export interface RRule {
  readonly freq: 'DAILY' | 'WEEKLY' | 'MONTHLY';
  readonly interval: number;
  readonly byDay: ReadonlyArray<{ weekday: number; nth: number }>;
  /** Empty: DTSTART's hour (likewise minute). */
  readonly byHour: readonly number[];
  readonly byMinute: readonly number[];
  readonly byMonthDay: readonly number[];
  readonly byMonth: readonly number[];
  readonly count?: number;
  readonly until?: { local: number } | { utc: number };
  readonly wkst: number;
  /** DTSTART as local wall-clock milliseconds (the local time written as if it were UTC), or UTC when `Z`. */
  readonly start: { local: number } | { utc: number };
  /** DTSTART's TZID when given; the window's `timezone` must agree with it. */
  readonly tzid?: string;
}

const DAY = 86_400_000;
const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const HORIZONS = [8, 64, 400, 800].map((days) => days * DAY);
const SUPPORTED = ['INTERVAL', 'COUNT', 'UNTIL', 'BYDAY', 'BYHOUR', 'BYMINUTE', 'BYMONTHDAY', 'BYMONTH', 'WKST'];

/** Milliseconds of a duration like `30m`, `2h`, `1d`, `1h30m` (d = 24 h, w = 7 d). */
export function parseDuration(text: string): number {
  const ms = durationMs(text);
  if (ms === null || ms <= 0) throw invalid(`"${text}" is not a duration such as 30m, 2h, 1d or 1h30m`);
  return ms;
}

/** True when `name` is an IANA time zone this runtime knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return name !== '';
  } catch {
    return false;
  }
}

/** Checks a window: rule, duration, time zone and a DTSTART TZID that must agree with it. */
export function parseWindow(window: WindowSpec): { rule: RRule; ms: number } {
  if (!isTimeZone(window.timezone))
    throw invalid(`"${window.timezone}" is not an IANA time zone such as Europe/Berlin`);
  const rule = parseRRule(window.rrule);
  if (rule.tzid !== undefined && rule.tzid !== window.timezone) {
    throw invalid(`DTSTART names TZID=${rule.tzid} but the window's timezone is ${window.timezone}`);
  }
  return { rule, ms: parseDuration(window.duration) };
}

/** Whether promotion is open at `at`: deny windows win; with allow windows, open only inside one of them. */
export function windowState(windows: readonly WindowSpec[], at: Date): WindowState {
  const parsed = windows.map((w, i) => ({ ...w, ...parseWindow(w), index: i + 1 }));
  const t = at.getTime();
  const intervals = (to: number) =>
    parsed.flatMap((w) => occurrences(w.rule, w.timezone, t - w.ms, to).map((s) => ({ w, start: s, end: s + w.ms })));
  const stateAt = (list: ReturnType<typeof intervals>, time: number) => {
    const inside = list.filter((i) => i.start <= time && time < i.end);
    const deny = inside.find((i) => i.w.kind === 'deny');
    const allow = inside.find((i) => i.w.kind === 'allow');
    const needsAllow = parsed.some((w) => w.kind === 'allow');
    return { open: deny === undefined && (allow !== undefined || !needsAllow), deny, allow };
  };
  const now = stateAt(intervals(t + 1), t);
  const label = (w: (typeof parsed)[number]) => `${w.kind} window #${w.index} (${w.rrule.replace(/\s+/g, ' ')})`;
  if (now.open) {
    const reason = now.allow
      ? `open: inside ${label(now.allow.w)} until ${formatLocal(now.allow.end, now.allow.w.timezone)}`
      : 'open: no deny window applies';
    return { open: true, reason, nextOpening: null };
  }
  const reason = now.deny
    ? `closed: inside ${label(now.deny.w)} until ${formatLocal(now.deny.end, now.deny.w.timezone)}`
    : 'closed: outside every allow window';
  for (const horizon of HORIZONS) {
    const list = intervals(t + horizon);
    // The open set only grows at an allow start or a deny end, so the next opening is one of those instants.
    const candidates = list
      .flatMap((i) => (i.w.kind === 'allow' ? [i.start] : [i.end]))
      .filter((c) => c > t)
      .sort((a, b) => a - b);
    const next = candidates.find((c) => stateAt(list, c).open);
    if (next !== undefined) return { open: false, reason, nextOpening: new Date(next) };
  }
  return { open: false, reason, nextOpening: null };
}

/** Parses the supported RFC 5545 subset; throws ReleaseError WINDOW_INVALID naming the part at fault. */
export function parseRRule(text: string): RRule {
  let start: RRule['start'] = { local: 0 };
  let hasStart = false;
  let tzid: string | undefined;
  let rule = '';
  for (const line of text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)) {
    const dt = /^DTSTART(?:;TZID=([^:;]+))?(?:;VALUE=DATE(?:-TIME)?)?:(\d{8}(?:T\d{6}Z?)?)$/.exec(line);
    if (dt) {
      start = parseDateTime(dt[2]!, 'DTSTART');
      tzid = dt[1];
      hasStart = true;
    } else if (/^(?:RRULE:)?FREQ=/.test(line) || /^RRULE:/.test(line)) rule = line.replace(/^RRULE:/, '');
    else throw invalid(`"${line}" is neither a DTSTART nor an RRULE line`);
  }
  const parts = new Map<string, string>();
  for (const part of rule.split(';').filter(Boolean)) {
    const [key, value] = part.split('=');
    if (!key || value === undefined || value === '') throw invalid(`"${part}" is not NAME=VALUE`);
    if (parts.has(key)) throw invalid(`${key} is given twice`);
    parts.set(key, value);
  }
  const freq = parts.get('FREQ');
  if (freq !== 'DAILY' && freq !== 'WEEKLY' && freq !== 'MONTHLY') {
    throw invalid(`FREQ=${freq ?? '(missing)'} is not supported; use DAILY, WEEKLY or MONTHLY`);
  }
  const unsupported = [...parts.keys()].find((key) => key !== 'FREQ' && !SUPPORTED.includes(key));
  if (unsupported) throw invalid(`${unsupported} is not supported (supported: ${SUPPORTED.join(', ')})`);
  const numbers = (key: string, min: number, max: number, fallback: number[]): number[] => {
    const raw = parts.get(key);
    if (raw === undefined) return fallback;
    const values = raw.split(',').map((n) => {
      const v = /^[+-]?\d+$/.test(n) ? Number(n) : Number.NaN;
      if (!(v >= min && v <= max) || (min < 0 && v === 0))
        throw invalid(`${key}=${raw}: ${n} is outside ${min}..${max}`);
      return v;
    });
    return [...new Set(values)].sort((a, b) => a - b);
  };
  const byDay = (parts.get('BYDAY')?.split(',') ?? []).map((d) => {
    const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(d);
    const nth = Number(m?.[1] ?? 0);
    if (!m || Math.abs(nth) > 5 || (nth !== 0 && freq !== 'MONTHLY')) {
      throw invalid(
        `BYDAY=${parts.get('BYDAY')}: "${d}" is not a weekday (MO…SU${freq === 'MONTHLY' ? ', or 1MO, -1FR' : ''})`,
      );
    }
    return { weekday: WEEKDAYS.indexOf(m[2]!), nth };
  });
  if (freq === 'WEEKLY' && parts.has('BYMONTHDAY')) throw invalid('BYMONTHDAY cannot be used with FREQ=WEEKLY');
  if (parts.has('COUNT') && parts.has('UNTIL')) throw invalid('COUNT and UNTIL cannot both be given');
  const [interval] = numbers('INTERVAL', 1, 1000, [1]);
  const count = parts.has('COUNT') ? numbers('COUNT', 1, 10_000, [])[0] : undefined;
  if (!hasStart && (interval !== 1 || count !== undefined)) {
    throw invalid('INTERVAL and COUNT need a DTSTART line to count from, e.g. "DTSTART:20240101T090000"');
  }
  const wkst = WEEKDAYS.indexOf(parts.get('WKST') ?? 'MO');
  if (wkst < 0) throw invalid(`WKST=${parts.get('WKST')} is not a weekday`);
  const until = parts.get('UNTIL');
  return {
    freq,
    interval: interval!,
    byDay,
    byHour: numbers('BYHOUR', 0, 23, []),
    byMinute: numbers('BYMINUTE', 0, 59, []),
    byMonthDay: numbers('BYMONTHDAY', -31, 31, []),
    byMonth: numbers('BYMONTH', 1, 12, []),
    ...(count === undefined ? {} : { count }),
    ...(until === undefined ? {} : { until: parseDateTime(until, 'UNTIL') }),
    wkst,
    start,
    ...(tzid === undefined ? {} : { tzid }),
  };
}

/** Start instants (UTC ms) of the rule's occurrences in [from, to], in order. */
export function occurrences(rule: RRule, timezone: string, from: number, to: number): number[] {
  const start = 'utc' in rule.start ? rule.start.utc : toUtc(rule.start.local, timezone);
  const startLocal = 'local' in rule.start ? rule.start.local : toLocal(rule.start.utc, timezone);
  const until =
    rule.until === undefined ? Infinity : 'utc' in rule.until ? rule.until.utc : toUtc(rule.until.local, timezone);
  // Without BYHOUR / BYMINUTE the time of day is DTSTART's, read on the local clock.
  const hours = rule.byHour.length > 0 ? rule.byHour : [new Date(startLocal).getUTCHours()];
  const minutes = rule.byMinute.length > 0 ? rule.byMinute : [new Date(startLocal).getUTCMinutes()];
  const seconds = Math.floor(startLocal / 1000) % 60;
  const firstDay = Math.floor(startLocal / DAY);
  const period = periodOf(rule, firstDay);
  const step = rule.freq === 'WEEKLY' ? 7 * rule.interval : rule.interval;
  // Without COUNT nothing before `from` matters: jump to the period holding it (a day early for the offset).
  let p = period;
  if (rule.count === undefined) {
    const target = periodOf(rule, Math.floor(toLocal(from, timezone) / DAY) - 1);
    p += Math.max(0, Math.floor((target - period) / step)) * step;
  }
  const found: number[] = [];
  let counted = 0;
  const lastDay = Math.floor(toLocal(to, timezone) / DAY) + 1;
  for (let guard = 0; guard < 200_000 && periodStartDay(rule, p) <= lastDay; guard += 1, p += step) {
    for (const day of daysOf(rule, p, firstDay)) {
      for (const hour of hours) {
        for (const minute of minutes) {
          const t = toUtc(day * DAY + hour * 3_600_000 + minute * 60_000 + seconds * 1000, timezone);
          if (t < start) continue;
          if (t > until || (rule.count !== undefined && counted >= rule.count)) return found;
          counted += 1;
          if (t >= from && t <= to) found.push(t);
        }
      }
    }
  }
  return found.sort((a, b) => a - b);
}

function periodOf(rule: RRule, day: number): number {
  if (rule.freq === 'DAILY') return day;
  if (rule.freq === 'WEEKLY') return day - ((weekday(day) - rule.wkst + 7) % 7);
  const d = new Date(day * DAY);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

function periodStartDay(rule: RRule, p: number): number {
  return rule.freq === 'MONTHLY' ? Date.UTC(Math.floor(p / 12), p % 12, 1) / DAY : p;
}

// The days (sorted) of one period that the BY* parts select.
function daysOf(rule: RRule, p: number, firstDay: number): number[] {
  const inMonth = (day: number) =>
    rule.byMonth.length === 0 || rule.byMonth.includes(new Date(day * DAY).getUTCMonth() + 1);
  if (rule.freq === 'DAILY') {
    const d = new Date(p * DAY).getUTCDate();
    const dim = daysInMonth(p);
    const dayOk = rule.byDay.length === 0 || rule.byDay.some((b) => b.weekday === weekday(p));
    const mdOk = rule.byMonthDay.length === 0 || rule.byMonthDay.some((n) => (n > 0 ? n : dim + 1 + n) === d);
    return dayOk && mdOk && inMonth(p) ? [p] : [];
  }
  if (rule.freq === 'WEEKLY') {
    const wds = rule.byDay.length > 0 ? rule.byDay.map((b) => b.weekday) : [weekday(firstDay)];
    return [...new Set(wds.map((wd) => p + ((wd - rule.wkst + 7) % 7)))].filter(inMonth).sort((a, b) => a - b);
  }
  const first = periodStartDay(rule, p);
  const dim = daysInMonth(first);
  const all = Array.from({ length: dim }, (_, i) => first + i);
  const fromMonthDays = rule.byMonthDay
    .map((n) => first + (n > 0 ? n : dim + 1 + n) - 1)
    .filter((d) => d >= first && d < first + dim);
  const fromWeekdays = rule.byDay.flatMap(({ weekday: wd, nth }) => {
    const matching = all.filter((d) => weekday(d) === wd);
    if (nth === 0) return matching;
    const pick = nth > 0 ? matching[nth - 1] : matching[matching.length + nth];
    return pick === undefined ? [] : [pick];
  });
  let days: number[];
  if (rule.byMonthDay.length > 0 && rule.byDay.length > 0) days = fromMonthDays.filter((d) => fromWeekdays.includes(d));
  else if (rule.byMonthDay.length > 0) days = fromMonthDays;
  else if (rule.byDay.length > 0) days = fromWeekdays;
  else days = all.filter((d) => new Date(d * DAY).getUTCDate() === new Date(firstDay * DAY).getUTCDate());
  return [...new Set(days)].filter(inMonth).sort((a, b) => a - b);
}

const weekday = (day: number): number => (((day + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday
const daysInMonth = (day: number): number => {
  const d = new Date(day * DAY);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
};

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local wall-clock time at `utc` in `timezone`, as milliseconds of that wall-clock time read as UTC. */
function toLocal(utc: number, timezone: string): number {
  let format = formatters.get(timezone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      ...{ year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' },
    });
    formatters.set(timezone, format);
  }
  const p = Object.fromEntries(format.formatToParts(utc).map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year!, p.month! - 1, p.day, p.hour, p.minute, p.second) + (((utc % 1000) + 1000) % 1000);
}

/**
 * The instant a local wall-clock time names, by RFC 5545 §3.3.5: a time that occurs twice (clocks go back) is the
 * first one; a time skipped by a DST gap is read with the offset from before the gap.
 */
function toUtc(local: number, timezone: string): number {
  const before = toLocal(local - DAY, timezone) - (local - DAY);
  const after = toLocal(local + DAY, timezone) - (local + DAY);
  const valid = [local - before, local - after].filter((t) => toLocal(t, timezone) === local);
  return valid.length > 0 ? Math.min(...valid) : local - before;
}

function formatLocal(utc: number, timezone: string): string {
  return `${new Date(toLocal(utc, timezone)).toISOString().slice(0, 16).replace('T', ' ')} ${timezone}`;
}

function parseDateTime(text: string, what: string): { local: number } | { utc: number } {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(text);
  if (!m) throw invalid(`${what}=${text} is not YYYYMMDD or YYYYMMDDTHHMMSS[Z]`);
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw invalid(`${what}=${text} is not a valid date-time`);
  }
  return m[7] ? { utc: ms } : { local: ms };
}

function invalid(reason: string): ReleaseError {
  return new ReleaseError('WINDOW_INVALID', `Cannot use the time window: ${reason}`, { issues: [reason] });
}
