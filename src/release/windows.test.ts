import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isErrorWithCode } from '../core/index.ts';
import {
  isTimeZone,
  occurrences,
  parseDuration,
  parseRRule,
  parseWindow,
  type WindowSpec,
  windowState,
} from './windows.ts';

const at = (iso: string) => new Date(iso);
const starts = (rrule: string, timezone: string, from: string, to: string) =>
  occurrences(parseRRule(rrule), timezone, Date.parse(from), Date.parse(to)).map((t) => new Date(t).toISOString());

const WEEKDAYS_NY: WindowSpec = {
  kind: 'allow',
  rrule: 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0',
  duration: '8h',
  timezone: 'America/New_York',
};

describe('occurrences()', () => {
  it('occurrences() keeps 09:00 Europe/Berlin at 09:00 local across spring forward', () => {
    assert.deepEqual(starts('FREQ=DAILY;BYHOUR=9', 'Europe/Berlin', '2024-03-29T00:00:00Z', '2024-04-01T23:00:00Z'), [
      '2024-03-29T08:00:00.000Z',
      '2024-03-30T08:00:00.000Z',
      '2024-03-31T07:00:00.000Z',
      '2024-04-01T07:00:00.000Z',
    ]);
  });

  it('occurrences() keeps 09:00 Europe/Berlin at 09:00 local across fall back', () => {
    assert.deepEqual(starts('FREQ=DAILY;BYHOUR=9', 'Europe/Berlin', '2024-10-26T00:00:00Z', '2024-10-28T23:00:00Z'), [
      '2024-10-26T07:00:00.000Z',
      '2024-10-27T08:00:00.000Z',
      '2024-10-28T08:00:00.000Z',
    ]);
  });

  it('occurrences() reads a time skipped by the DST gap with the offset from before it (RFC 5545 §3.3.5)', () => {
    // 02:30 does not exist in Berlin on 2024-03-31: it is read as 02:30 CET = 01:30 UTC (03:30 CEST).
    assert.deepEqual(
      starts('FREQ=DAILY;BYHOUR=2;BYMINUTE=30', 'Europe/Berlin', '2024-03-30T00:00:00Z', '2024-03-31T23:00:00Z'),
      ['2024-03-30T01:30:00.000Z', '2024-03-31T01:30:00.000Z'],
    );
    // 02:30 does not exist in New York on 2024-03-10: 02:30 EST = 07:30 UTC.
    assert.deepEqual(
      starts('FREQ=DAILY;BYHOUR=2;BYMINUTE=30', 'America/New_York', '2024-03-10T00:00:00Z', '2024-03-10T23:00:00Z'),
      ['2024-03-10T07:30:00.000Z'],
    );
  });

  it('occurrences() takes the first of a time that occurs twice when clocks go back', () => {
    assert.deepEqual(
      starts('FREQ=DAILY;BYHOUR=2;BYMINUTE=30', 'Europe/Berlin', '2024-10-27T00:00:00Z', '2024-10-27T23:00:00Z'),
      ['2024-10-27T00:30:00.000Z'],
    );
    assert.deepEqual(
      starts('FREQ=DAILY;BYHOUR=1;BYMINUTE=30', 'America/New_York', '2024-11-03T00:00:00Z', '2024-11-03T23:00:00Z'),
      ['2024-11-03T05:30:00.000Z'],
    );
  });

  it('occurrences() follows weekday lists across the New York spring change', () => {
    assert.deepEqual(starts(WEEKDAYS_NY.rrule, 'America/New_York', '2024-03-08T00:00:00Z', '2024-03-12T00:00:00Z'), [
      '2024-03-08T14:00:00.000Z',
      '2024-03-11T13:00:00.000Z',
    ]);
  });

  it('occurrences() supports monthly ordinals, negative month days and skips missing days', () => {
    const patchTuesday = starts(
      'FREQ=MONTHLY;BYDAY=2TU;BYHOUR=18',
      'UTC',
      '2024-01-01T00:00:00Z',
      '2024-04-01T00:00:00Z',
    );
    assert.deepEqual(patchTuesday, [
      '2024-01-09T18:00:00.000Z',
      '2024-02-13T18:00:00.000Z',
      '2024-03-12T18:00:00.000Z',
    ]);
    assert.deepEqual(starts('FREQ=MONTHLY;BYDAY=-1FR', 'UTC', '2024-01-01T00:00:00Z', '2024-03-01T00:00:00Z'), [
      '2024-01-26T00:00:00.000Z',
      '2024-02-23T00:00:00.000Z',
    ]);
    assert.deepEqual(starts('FREQ=MONTHLY;BYMONTHDAY=-1', 'UTC', '2024-01-15T00:00:00Z', '2024-03-15T00:00:00Z'), [
      '2024-01-31T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
    ]);
    assert.deepEqual(starts('FREQ=MONTHLY;BYMONTHDAY=31', 'UTC', '2024-01-15T00:00:00Z', '2024-05-15T00:00:00Z'), [
      '2024-01-31T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
    ]);
    assert.deepEqual(
      starts('FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR', 'UTC', '2024-01-01T00:00:00Z', '2024-12-31T00:00:00Z'),
      ['2024-09-13T00:00:00.000Z', '2024-12-13T00:00:00.000Z'],
    );
  });

  it('occurrences() counts INTERVAL and COUNT from DTSTART and stops at UNTIL', () => {
    const fortnightly = 'DTSTART:20240101T100000\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO';
    assert.deepEqual(starts(fortnightly, 'UTC', '2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'), [
      '2024-01-01T10:00:00.000Z',
      '2024-01-15T10:00:00.000Z',
      '2024-01-29T10:00:00.000Z',
    ]);
    // A UTC DTSTART fixes the instant; the daily time is its local time (08:00 UTC = 09:00 CET).
    assert.deepEqual(
      starts(
        'DTSTART:20240101T080000Z\nRRULE:FREQ=DAILY;COUNT=2',
        'Europe/Berlin',
        '2023-01-01T00:00:00Z',
        '2025-01-01T00:00:00Z',
      ),
      ['2024-01-01T08:00:00.000Z', '2024-01-02T08:00:00.000Z'],
    );
    const three = 'DTSTART;TZID=Europe/Berlin:20240101T090000\nRRULE:FREQ=DAILY;COUNT=3';
    assert.equal(starts(three, 'Europe/Berlin', '2023-01-01T00:00:00Z', '2025-01-01T00:00:00Z').length, 3);
    assert.deepEqual(
      starts('FREQ=DAILY;BYMONTH=2;UNTIL=20240203T000000Z', 'UTC', '2024-01-30T00:00:00Z', '2024-03-01T00:00:00Z'),
      ['2024-02-01T00:00:00.000Z', '2024-02-02T00:00:00.000Z', '2024-02-03T00:00:00.000Z'],
    );
  });
});

describe('windowState()', () => {
  it('windowState() is open inside an allow window and says until when', () => {
    const state = windowState([WEEKDAYS_NY], at('2024-03-11T14:00:00Z'));
    assert.equal(state.open, true);
    assert.equal(state.nextOpening, null);
    assert.match(state.reason, /inside allow window #1 .* until 2024-03-11 17:00 America\/New_York/);
  });

  it('windowState() is closed outside every allow window, with the next opening across a weekend and DST', () => {
    const state = windowState([WEEKDAYS_NY], at('2024-03-09T12:00:00Z'));
    assert.deepEqual(state, {
      open: false,
      reason: 'closed: outside every allow window',
      nextOpening: at('2024-03-11T13:00:00Z'),
    });
  });

  it('windowState() lets a deny window win over an overlapping allow window and reopens when it ends', () => {
    const lunchFreeze: WindowSpec = {
      kind: 'deny',
      rrule: 'FREQ=DAILY;BYHOUR=12',
      duration: '1h',
      timezone: 'America/New_York',
    };
    const state = windowState([WEEKDAYS_NY, lunchFreeze], at('2024-03-11T16:30:00Z'));
    assert.equal(state.open, false);
    assert.match(state.reason, /inside deny window #2 .* until 2024-03-11 13:00 America\/New_York/);
    assert.deepEqual(state.nextOpening, at('2024-03-11T17:00:00Z'));
  });

  it('windowState() skips allow windows wholly covered by a deny window (a holiday freeze)', () => {
    const freeze: WindowSpec = {
      kind: 'deny',
      rrule: 'DTSTART:20241223T000000\nRRULE:FREQ=DAILY;COUNT=1',
      duration: '14d',
      timezone: 'Europe/Berlin',
    };
    const allow: WindowSpec = {
      kind: 'allow',
      rrule: 'FREQ=WEEKLY;BYDAY=TU,TH;BYHOUR=10',
      duration: '4h',
      timezone: 'Europe/Berlin',
    };
    const state = windowState([allow, freeze], at('2024-12-24T10:30:00Z'));
    assert.equal(state.open, false);
    // The freeze ends 2025-01-06 00:00 CET; the next Tuesday/Thursday window is Tue 2025-01-07 10:00 CET.
    assert.deepEqual(state.nextOpening, at('2025-01-07T09:00:00Z'));
  });

  it('windowState() with deny windows only is open outside them', () => {
    const nights: WindowSpec = {
      kind: 'deny',
      rrule: 'FREQ=DAILY;BYHOUR=22',
      duration: '9h',
      timezone: 'Europe/Berlin',
    };
    assert.equal(windowState([nights], at('2024-06-01T10:00:00Z')).open, true);
    const closed = windowState([nights], at('2024-06-01T23:00:00Z'));
    assert.equal(closed.open, false);
    assert.deepEqual(closed.nextOpening, at('2024-06-02T05:00:00Z')); // 07:00 CEST
    assert.deepEqual(windowState([], at('2024-06-01T23:00:00Z')), {
      open: true,
      reason: 'open: no deny window applies',
      nextOpening: null,
    });
  });

  it('windowState() has no next opening once COUNT is used up', () => {
    const once: WindowSpec = {
      kind: 'allow',
      rrule: 'DTSTART:20240101T090000\nRRULE:FREQ=DAILY;COUNT=2',
      duration: '1h',
      timezone: 'UTC',
    };
    assert.equal(windowState([once], at('2024-01-02T09:30:00Z')).open, true);
    assert.deepEqual(windowState([once], at('2024-01-03T09:30:00Z')).nextOpening, null);
  });

  it('windowState() next opening is open, and no instant before it is (property)', () => {
    const deny: WindowSpec = {
      kind: 'deny',
      rrule: 'FREQ=WEEKLY;BYDAY=FR;BYHOUR=15',
      duration: '66h',
      timezone: 'Europe/Berlin',
    };
    const windows = [WEEKDAYS_NY, deny];
    const start = Date.parse('2024-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 366 * 24 * 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (minutes, f) => {
          const t = new Date(start + minutes * 60_000);
          const state = windowState(windows, t);
          if (state.open) return;
          assert.ok(state.nextOpening !== null);
          assert.equal(windowState(windows, state.nextOpening).open, true);
          const between = new Date(t.getTime() + Math.floor(f * (state.nextOpening.getTime() - t.getTime() - 1)));
          assert.equal(windowState(windows, between).open, false);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('parseRRule() and parseWindow()', () => {
  const reject = (rrule: string, pattern: RegExp) =>
    assert.throws(
      () => parseRRule(rrule),
      (err) => isErrorWithCode(err, 'WINDOW_INVALID') && pattern.test(err.message),
    );

  it('parseRRule() rejects what it does not support, naming the part', () => {
    reject('FREQ=YEARLY', /FREQ=YEARLY is not supported; use DAILY, WEEKLY or MONTHLY/);
    reject('FREQ=DAILY;BYSETPOS=1', /BYSETPOS is not supported/);
    reject('FREQ=WEEKLY;BYDAY=MO,XX', /"XX" is not a weekday/);
    reject('FREQ=WEEKLY;BYDAY=1MO', /"1MO" is not a weekday/);
    reject('FREQ=DAILY;BYHOUR=24', /BYHOUR=24: 24 is outside 0\.\.23/);
    reject('FREQ=MONTHLY;BYMONTHDAY=0', /outside -31\.\.31/);
    reject('FREQ=WEEKLY;INTERVAL=2', /need a DTSTART line/);
    reject('FREQ=DAILY;COUNT=2;UNTIL=20240101', /COUNT and UNTIL/);
    reject('DTSTART:20240230T000000\nFREQ=DAILY', /not a valid date-time/);
    reject('FREQ=DAILY;FREQ=WEEKLY', /given twice/);
    reject('EXDATE:20240101', /neither a DTSTART nor an RRULE line/);
  });

  it('parseWindow() checks the time zone and that DTSTART agrees with it', () => {
    const base = { kind: 'allow' as const, rrule: 'FREQ=DAILY', duration: '1h', timezone: 'Europe/Berlin' };
    assert.equal(parseWindow(base).ms, 3_600_000);
    assert.throws(() => parseWindow({ ...base, timezone: 'Mars/Olympus' }), /not an IANA time zone/);
    assert.throws(
      () => parseWindow({ ...base, rrule: 'DTSTART;TZID=America/New_York:20240101T090000\nRRULE:FREQ=DAILY' }),
      /TZID=America\/New_York but the window's timezone is Europe\/Berlin/,
    );
    assert.equal(isTimeZone('America/New_York'), true);
    assert.equal(isTimeZone(''), false);
  });

  it('parseDuration() reads w/d/h/m/s and rejects zero and garbage', () => {
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
    for (const bad of ['', '0m', '1y', '30', 'm', '1.5h', '-1h'])
      assert.throws(() => parseDuration(bad), /not a duration/);
  });
});
