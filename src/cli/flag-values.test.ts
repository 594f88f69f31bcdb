import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseByteSize, parseDurationFlag } from './flag-values.ts';
import { CLIError } from './output.ts';

describe('parseByteSize()', () => {
  test('parseByteSize() reads binary units, decimal units and plain bytes', () => {
    const cases: Array<[string, number]> = [
      ['0', 0],
      ['4096', 4096],
      ['10GiB', 10 * 1024 ** 3],
      ['2gib', 2 * 1024 ** 3],
      ['2G', 2 * 1024 ** 3],
      ['512k', 512 * 1024],
      ['1.5MiB', 1.5 * 1024 ** 2],
      ['500 MiB', 500 * 1024 ** 2],
      ['2GB', 2e9],
      ['1TB', 1e12],
      ['7B', 7],
    ];
    for (const [text, bytes] of cases) assert.equal(parseByteSize(text, '--cache-max'), bytes, text);
  });

  test('parseByteSize() refuses what is not a size with a usage error naming the flag', () => {
    for (const text of ['', 'lots', '-1GiB', '10 PiB', '1e3', 'GiB']) {
      assert.throws(
        () => parseByteSize(text, '--keep-storage'),
        (err: unknown) =>
          err instanceof CLIError &&
          err.code === 'USAGE' &&
          err.message.includes('--keep-storage') &&
          err.fix !== undefined,
        text,
      );
    }
  });
});

describe('parseDurationFlag()', () => {
  test('parseDurationFlag() reads seconds, minutes, hours and days, and a plain number as seconds', () => {
    const cases: Array<[string, number]> = [
      ['0', 0],
      ['120', 120],
      ['90s', 90],
      ['15m', 900],
      ['2h', 7200],
      ['7d', 604800],
      [' 10m ', 600],
      ['1h30m', 5400],
      ['2w', 1_209_600],
    ];
    for (const [text, seconds] of cases) assert.equal(parseDurationFlag(text, '--timeout'), seconds, text);
  });

  test('parseDurationFlag() refuses what is not a duration with a usage error naming the flag', () => {
    for (const text of ['', 'soon', '-5m', '1.5h', '10 minutes', 'm', '30m1h', '5x']) {
      assert.throws(
        () => parseDurationFlag(text, '--timeout'),
        (err: unknown) =>
          err instanceof CLIError &&
          err.code === 'USAGE' &&
          err.message.includes('--timeout') &&
          err.message.includes(JSON.stringify(text)) &&
          err.fix !== undefined,
        text,
      );
    }
  });
});
