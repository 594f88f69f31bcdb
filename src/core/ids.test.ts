import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from './ids.ts';

test('newId() never starts with "-" (a command line would read it as an option)', () => {
  for (let i = 0; i < 20_000; i++) {
    const id = newId(12);
    assert.notEqual(id[0], '-');
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
  }
});
