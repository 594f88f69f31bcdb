import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizeLicenseExpression, toLicenseExpression } from './spdx-license.ts';

describe('normalizeLicenseExpression()', () => {
  test('normalizeLicenseExpression() accepts ids, +, WITH, AND, OR and parentheses', () => {
    for (const expression of [
      'MIT',
      'GPL-2.0+',
      '(MIT OR Apache-2.0)',
      'GPL-2.0-or-later WITH Classpath-exception-2.0',
      '(MIT OR Apache-2.0) AND BSD-3-Clause',
    ]) {
      assert.equal(normalizeLicenseExpression(expression), expression);
    }
  });

  test('normalizeLicenseExpression() upper-cases operators and tidies spacing', () => {
    assert.equal(normalizeLicenseExpression('( mit or  apache-2.0 )'), '(mit OR apache-2.0)');
  });

  test('normalizeLicenseExpression() returns null for free text, markers and broken expressions', () => {
    for (const text of [
      'SEE LICENSE IN LICENSE.md',
      'UNLICENSED',
      'proprietary',
      'Apache 2.0',
      'MIT AND',
      '(MIT',
      'LicenseRef-acme',
      '',
    ]) {
      assert.equal(normalizeLicenseExpression(text), null, text);
    }
  });
});

describe('toLicenseExpression()', () => {
  test('toLicenseExpression() reads npm strings, legacy { type } objects and licenses arrays', () => {
    assert.equal(toLicenseExpression('ISC'), 'ISC');
    assert.equal(toLicenseExpression({ type: 'MIT', url: 'https://opensource.org/licenses/MIT' }), 'MIT');
    assert.equal(toLicenseExpression(undefined, [{ type: 'MIT' }, { type: 'GPL-2.0-only' }]), 'MIT OR GPL-2.0-only');
    assert.equal(toLicenseExpression(undefined, undefined), null);
  });

  test('toLicenseExpression() joins composer alternatives with OR, wrapping compound ones', () => {
    assert.equal(toLicenseExpression(['MIT']), 'MIT');
    assert.equal(toLicenseExpression(['LGPL-2.1-only', 'GPL-3.0-or-later']), 'LGPL-2.1-only OR GPL-3.0-or-later');
    assert.equal(toLicenseExpression(['(A OR B)', 'C AND D']), '(A OR B) OR (C AND D)');
    assert.equal(toLicenseExpression([]), null);
  });

  test('toLicenseExpression() keeps text that is not an expression as it was written', () => {
    assert.equal(toLicenseExpression('SEE LICENSE IN LICENSE.md'), 'SEE LICENSE IN LICENSE.md');
  });
});
