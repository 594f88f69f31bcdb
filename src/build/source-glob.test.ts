import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { compileSourceGlob } from './source-glob.ts';

function check(pattern: string, matches: string[], misses: string[], isDirectory = false): void {
  const glob = compileSourceGlob(pattern);
  for (const p of matches) assert.ok(glob.matches(p, isDirectory), `${pattern} should match ${p}`);
  for (const p of misses) assert.ok(!glob.matches(p, isDirectory), `${pattern} should not match ${p}`);
}

describe('compileSourceGlob()', () => {
  test('compileSourceGlob() anchors a pattern at from when it has no **', () => {
    check('*.js', ['a.js', '.js'], ['lib/a.js', 'a.jsx']);
    check('lib/?.ts', ['lib/a.ts'], ['lib/ab.ts', 'a.ts', 'x/lib/a.ts']);
  });

  test('compileSourceGlob() lets ** match zero or more segments when it is a whole segment', () => {
    check('**/*.js', ['a.js', 'x/a.js', 'x/y/a.js'], ['a.ts']);
    check('a/**/b', ['a/b', 'a/x/b', 'a/x/y/b'], ['b', 'ab', 'a/bc']);
    check('dist/**', ['dist/a', 'dist/a/b'], ['dist', 'distx/a']);
    check('**', ['a', 'a/b'], []);
  });

  test('compileSourceGlob() matches only directories when the pattern ends with /', () => {
    check('cache/', ['cache'], [], true);
    check('cache/', [], ['cache'], false);
  });

  test('compileSourceGlob() treats regular-expression characters literally', () => {
    check('a+(b).[c]', ['a+(b).[c]'], ['aa(b)x[c]', 'ab.c']);
  });

  test('compileSourceGlob() tells when a directory could hold matches', () => {
    const glob = compileSourceGlob('dist/assets/*.css');
    assert.ok(glob.couldMatchBelow('dist'));
    assert.ok(glob.couldMatchBelow('dist/assets'));
    assert.ok(!glob.couldMatchBelow('node_modules'));
    assert.ok(!glob.couldMatchBelow('dist/other'));
    assert.ok(compileSourceGlob('**/*.js').couldMatchBelow('node_modules/x'));
  });

  test('compileSourceGlob() throws LAYER_INVALID when the pattern is absolute or climbs', () => {
    for (const bad of ['/etc/*', '../x', 'a/../../b', './a', 'a//b', '', '.']) {
      assert.throws(
        () => compileSourceGlob(bad),
        (err) => isErrorWithCode(err, 'LAYER_INVALID'),
        bad,
      );
    }
  });
});
