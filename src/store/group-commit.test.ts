import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { createCoalescedSync, createGroupCommit } from './group-commit.ts';

describe('createGroupCommit()', () => {
  it('createGroupCommit() batches calls that arrive while a commit runs', async () => {
    const batches: number[][] = [];
    const add = createGroupCommit<number>(async (items) => {
      batches.push([...items]);
      await sleep(5);
    });
    await Promise.all([1, 2, 3, 4, 5].map((n) => add(n)));
    assert.deepEqual(batches, [[1], [2, 3, 4, 5]]);
  });

  it('createGroupCommit() fails only the bad item when a batch fails', async () => {
    const add = createGroupCommit<number>(async (items) => {
      await sleep(1);
      if (items.includes(3)) throw new Error('three is bad');
    });
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => add(n)));
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
  });
});

describe('createCoalescedSync()', () => {
  it('createCoalescedSync() answers each caller with a sync that started after it asked', async () => {
    // Each sync waits on a gate the test opens, so the interleaving does not depend on timers.
    const gates: Array<() => void> = [];
    const log: string[] = [];
    const sync = createCoalescedSync(async () => {
      const n = gates.length + 1;
      log.push(`start ${n}`);
      await new Promise<void>((open) => gates.push(open));
      log.push(`end ${n}`);
    });
    const first = sync();
    const late = [sync(), sync(), sync()];
    assert.equal(gates.length, 1, 'callers during a running sync wait for the next one');
    gates[0]!();
    await first;
    await setImmediate();
    assert.equal(gates.length, 2, 'the three late callers share one more sync');
    gates[1]!();
    await Promise.all(late);
    assert.deepEqual(log, ['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('createCoalescedSync() keeps working after a sync fails', async () => {
    let calls = 0;
    const sync = createCoalescedSync(async () => {
      calls++;
      if (calls === 1) throw new Error('EIO');
    });
    await assert.rejects(sync(), /EIO/);
    await sync();
    assert.equal(calls, 2);
  });
});
