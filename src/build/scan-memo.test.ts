import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { systemClock } from '../core/index.ts';
import { openScanMemo } from './scan-memo.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fixity-scan-memo-'));
  dirs.push(dir);
  return dir;
}
const KEY_A = `sha256:${'a'.repeat(64)}`;
const KEY_B = `sha256:${'b'.repeat(64)}+assignment`;

describe('openScanMemo()', () => {
  test('openScanMemo() knows the keys a build added, for the same source root only', async () => {
    const dir = tempDir();
    const first = await openScanMemo(dir, '/src/app', { clock: systemClock });
    assert.equal(first.has(KEY_A), false);
    first.add(KEY_A);
    first.add(KEY_B);
    await first.save();
    const second = await openScanMemo(dir, '/src/app', { clock: systemClock });
    assert.equal(second.has(KEY_A), true);
    assert.equal(second.has(KEY_B), true);
    assert.deepEqual(second.counts(), { hits: 2, misses: 0 });
    assert.equal((await openScanMemo(dir, '/src/other', { clock: systemClock })).has(KEY_A), false);
  });

  test('openScanMemo() forgets keys a build did not use, and ignores a corrupt file', async () => {
    const dir = tempDir();
    const first = await openScanMemo(dir, '/src/app', { clock: systemClock });
    first.add(KEY_A);
    first.add(KEY_B);
    await first.save();
    const second = await openScanMemo(dir, '/src/app', { clock: systemClock });
    second.has(KEY_A);
    await second.save();
    const third = await openScanMemo(dir, '/src/app', { clock: systemClock });
    assert.equal(third.has(KEY_B), false);
    assert.equal(third.has(KEY_A), true);
    const [file] = readdirSync(dir);
    for (const bad of ['{', '[]', '{"version":1,"clean":[1]}', '{"version":2,"clean":[]}']) {
      writeFileSync(join(dir, file!), bad);
      assert.equal((await openScanMemo(dir, '/src/app', { clock: systemClock })).has(KEY_A), false, bad);
    }
  });
});
