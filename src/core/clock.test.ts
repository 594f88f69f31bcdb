import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createManualClock, systemClock } from './clock.ts';

describe('createManualClock()', () => {
  test('createManualClock() starts at the epoch by default and stands still', () => {
    const clock = createManualClock();
    assert.equal(clock.now().toISOString(), '1970-01-01T00:00:00.000Z');
    assert.equal(clock.now().getTime(), 0);
  });

  test('createManualClock() accepts an ISO string, a number or a Date', () => {
    assert.equal(createManualClock('2025-01-02T03:04:05.000Z').now().toISOString(), '2025-01-02T03:04:05.000Z');
    assert.equal(createManualClock(1000).now().getTime(), 1000);
    assert.equal(createManualClock(new Date(5)).now().getTime(), 5);
  });

  test('createManualClock() advance() and set() move time', () => {
    const clock = createManualClock('2025-01-01T00:00:00Z');
    clock.advance(1500);
    assert.equal(clock.now().toISOString(), '2025-01-01T00:00:01.500Z');
    clock.set(new Date('2030-06-01T00:00:00Z'));
    assert.equal(clock.now().toISOString(), '2030-06-01T00:00:00.000Z');
    clock.advance(-1);
    assert.equal(clock.now().toISOString(), '2030-05-31T23:59:59.999Z');
  });

  test('createManualClock() now() returns a fresh Date that callers cannot use to move the clock', () => {
    const clock = createManualClock(0);
    clock.now().setTime(999);
    assert.equal(clock.now().getTime(), 0);
  });
});

describe('systemClock', () => {
  test('systemClock.now() reads the wall clock', () => {
    const before = Date.now();
    const t = systemClock.now().getTime();
    assert.ok(t >= before && t <= Date.now());
  });
});
