import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliasOf, prefixOfAlias } from './alias.ts';

test('every 4-hex prefix has one alias and every alias names its prefix back', () => {
  const seen = new Set<string>();
  for (let n = 0; n < 65_536; n++) {
    const prefix = n.toString(16).padStart(4, '0');
    const alias = aliasOf(`sha256:${prefix}${'0'.repeat(60)}`)!;
    assert.match(alias, /^[a-z]+-[a-z]+$/);
    assert.equal(prefixOfAlias(alias), prefix);
    seen.add(alias);
  }
  assert.equal(seen.size, 65_536);
});

test('aliases are fixed: the word lists are never reordered', () => {
  assert.equal(aliasOf(`sha256:${'0'.repeat(64)}`), 'able-aardvark');
  assert.equal(aliasOf(`sha256:${'f'.repeat(64)}`), 'spicy-whale');
  assert.equal(aliasOf('9c21de07'), 'lively-cat');
  assert.equal(aliasOf(`sha256:9c21${'0'.repeat(60)}`), 'lively-cat');
});

test('what is not a digest or an alias gives null', () => {
  for (const text of ['', 'sha256:xyz', 'abc', 'sha512:abcd']) assert.equal(aliasOf(text), null, text);
  for (const text of ['hello-world', 'amber', 'amber-otter-x', 'Amber-Otter', 'otter-amber']) {
    assert.equal(prefixOfAlias(text), null, text);
  }
  assert.equal(prefixOfAlias('amber-otter')?.length, 4);
});
