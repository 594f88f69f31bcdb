import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { openProvisioningBook } from './provisioning-book.ts';

test('openProvisioningBook() refuses a replayed key and a used-up quota, across reopening', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-book-'));
  try {
    const file = join(dir, 'provisioning.json');
    const book = openProvisioningBook(file);
    await book.record('n1', 'a', 2);
    await assert.rejects(book.record('n1', 'a', 2), (e) => isErrorWithCode(e, 'KEY_REPLAYED'));
    await book.record('n1', 'b', 2);
    const reopened = openProvisioningBook(file);
    await assert.rejects(reopened.record('n1', 'c', 2), (e) => isErrorWithCode(e, 'KEY_QUOTA_EXCEEDED'));
    await assert.rejects(reopened.record('n1', 'b', 2), (e) => isErrorWithCode(e, 'KEY_REPLAYED'));
    await reopened.record('n2', 'c', 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
