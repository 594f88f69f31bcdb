import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globToRegExp } from './glob.ts';

function check(pattern: string, matches: string[], misses: string[]): void {
  const re = globToRegExp(pattern);
  for (const s of matches) assert.ok(re.test(s), `${pattern} should match ${s}`);
  for (const s of misses) assert.ok(!re.test(s), `${pattern} should not match ${s}`);
}

describe('globToRegExp()', () => {
  test('globToRegExp() matches a literal pattern exactly', () => {
    check('prod/web', ['prod/web'], ['prod/web2', 'xprod/web', 'prod', 'prod/web/x']);
  });

  test('globToRegExp() lets * match within one path segment only', () => {
    check('prod/*', ['prod/web', 'prod/api-server'], ['prod/a/b', 'prod', 'staging/web']);
    check('*', ['web', 'latest'], ['a/b']);
    check('*-rc', ['v1-rc'], ['v1/x-rc']);
  });

  test('globToRegExp() lets a trailing /** match the prefix itself and anything below it', () => {
    check('prod/**', ['prod', 'prod/a', 'prod/a/b', 'prod/a/b/c'], ['production', 'prod-eu/a', 'xprod/a']);
  });

  test('globToRegExp() lets ** match across segments elsewhere', () => {
    check('**', ['', 'a', 'a/b/c'], []);
    check('**/web', ['a/web', 'a/b/web'], ['a/web2']);
    check('team/**/web', ['team/x/web', 'team/x/y/web'], ['team/x/y/api']);
  });

  test('globToRegExp() lets ? match exactly one character other than /', () => {
    check('v?', ['v1', 'vx'], ['v', 'v12', 'v/']);
    check('a?c', ['abc'], ['a/c', 'ac']);
  });

  test('globToRegExp() treats dots and other regular-expression characters literally', () => {
    check('v1.*', ['v1.2', 'v1.', 'v1.2.3'], ['v102', 'v1x2']);
    check('a+b', ['a+b'], ['aab', 'ab']);
    check('(x)|y', ['(x)|y'], ['x', 'y']);
    check('$^[a]{1}\\', ['$^[a]{1}\\'], ['a']);
  });

  test('globToRegExp() anchors at both ends', () => {
    check('web', ['web'], ['webx', 'xweb', 'a/web']);
  });
});
