import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationMs } from './duration.ts';

test('durationMs() reads each unit and their sums, largest unit first', () => {
  const cases: Array<[string, number]> = [
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['1w2d3h4m5s', ((((7 + 2) * 24 + 3) * 60 + 4) * 60 + 5) * 1000],
    ['0s', 0],
  ];
  for (const [text, ms] of cases) assert.equal(durationMs(text), ms, text);
});

test('durationMs() is null for what is not a duration', () => {
  for (const text of ['', '30', 'm', '30m1h', '1.5h', '-5m', '5 m', ' 5m', '5x', '1hh']) {
    assert.equal(durationMs(text), null, JSON.stringify(text));
  }
});
