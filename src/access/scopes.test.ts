import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileGrant, patternsWithin, rolesForScopes, scopesWithin } from './scopes.ts';

describe('scopes', () => {
  test('compileGrant() keeps the registry meaning of scopes: push implies pull, delete stands alone', () => {
    const push = compileGrant({ scopes: ['push'], repos: ['team/*'] });
    assert.equal(push('registry.pull', { repository: 'team/a' }), true);
    assert.equal(push('registry.push', { repository: 'team/a' }), true);
    assert.equal(push('registry.delete', { repository: 'team/a' }), false);
    assert.equal(push('registry.push', { repository: 'other/a' }), false);
    const del = compileGrant({ scopes: ['delete'], repos: ['**'] });
    assert.equal(del('registry.delete', { repository: 'x' }), true);
    assert.equal(del('registry.pull', { repository: 'x' }), false);
  });

  test('compileGrant() lets release carry promotion actions and admin everything', () => {
    const release = compileGrant({ scopes: ['release'], repos: ['**'] });
    for (const a of ['promote', 'approve', 'veto', 'hold', 'deploy'] as const) assert.equal(release(a, {}), true, a);
    assert.equal(release('registry.push', { repository: 'x' }), false);
    assert.equal(release('veto.lift', {}), false);
    const admin = compileGrant({ scopes: ['admin'], repos: ['**'] });
    assert.equal(admin('users.manage', {}), true);
  });

  test('rolesForScopes() maps a legacy token to the least roles that keep it working', () => {
    assert.deepEqual(rolesForScopes({ scopes: ['admin', 'pull'], repos: ['team/*'] }), [
      { role: 'admin', stages: null, repos: null },
    ]);
    assert.deepEqual(rolesForScopes({ scopes: ['pull', 'push'], repos: ['cli/**'] }), [
      { role: 'builder', stages: null, repos: ['cli/**'] },
    ]);
    assert.deepEqual(rolesForScopes({ scopes: ['pull'], repos: ['**'] }), [
      { role: 'viewer', stages: null, repos: null },
    ]);
    assert.deepEqual(
      rolesForScopes({ scopes: ['release'], repos: ['**'] }).map((r) => r.role),
      ['approver', 'releaser'],
    );
  });

  test('patternsWithin() accepts only patterns surely inside the outer ones', () => {
    assert.equal(patternsWithin(['a/*', 'b/**'], ['**']), true);
    assert.equal(patternsWithin(['team/*'], ['team/*']), true);
    assert.equal(patternsWithin(['team/app'], ['team/*']), true);
    assert.equal(patternsWithin(['team/*'], ['team/app']), false);
    assert.equal(patternsWithin(['**'], ['team/**']), false);
    assert.equal(patternsWithin(['team/x/*'], ['team/**']), false, 'conservative: a glob inside a glob is refused');
  });

  test('scopesWithin() compares the actions scopes carry', () => {
    assert.equal(scopesWithin(['pull'], ['push']), true);
    assert.equal(scopesWithin(['push'], ['pull']), false);
    assert.equal(scopesWithin(['release', 'delete'], ['admin']), true);
    assert.equal(scopesWithin(['admin'], ['push', 'delete', 'release']), false);
  });
});
