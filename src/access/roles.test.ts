import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ACTIONS,
  compileBindings,
  describeScope,
  normalizePatterns,
  ROLE_ACTIONS,
  ROLES,
  type RoleBinding,
  rolesAllowing,
} from './roles.ts';

const bind = (role: RoleBinding['role'], scope: Partial<Omit<RoleBinding, 'role'>> = {}): RoleBinding => ({
  role,
  stages: scope.stages ?? null,
  repos: scope.repos ?? null,
});

describe('roles', () => {
  test('ROLE_ACTIONS gives every role the viewer reads and the admin every action', () => {
    for (const role of ROLES)
      for (const read of ROLE_ACTIONS.viewer) assert.ok(ROLE_ACTIONS[role].includes(read), role);
    assert.deepEqual([...ROLE_ACTIONS.admin].sort(), [...ACTIONS].sort());
  });

  test('ROLE_ACTIONS keeps admin-only actions to the admin', () => {
    for (const action of ['keys.manage', 'pipeline.auto', 'veto.lift', 'tokens.manage', 'users.manage'] as const) {
      assert.deepEqual(rolesAllowing(action), ['admin'], action);
    }
    assert.deepEqual(rolesAllowing('registry.push'), ['builder']);
    assert.deepEqual(rolesAllowing('approve'), ['approver']);
    assert.deepEqual(rolesAllowing('veto'), ['approver', 'releaser']);
    assert.deepEqual(rolesAllowing('deploy'), ['releaser']);
  });

  test('compileBindings() allows an unscoped role everywhere', () => {
    const b = compileBindings([bind('builder')]);
    assert.equal(b.permits('registry.push', { repository: 'any/repo' }), true);
    assert.equal(b.permits('sign', { repository: 'x' }), true);
    assert.equal(b.permits('approve', { repository: 'x', stage: 'staging' }), false);
  });

  test('compileBindings() limits a repository-scoped role to matching repositories', () => {
    const b = compileBindings([bind('builder', { repos: ['team/**'] })]);
    assert.equal(b.permits('registry.push', { repository: 'team/app' }), true);
    assert.equal(b.permits('registry.push', { repository: 'team' }), true);
    assert.equal(b.permits('registry.push', { repository: 'other/app' }), false);
    // A scoped role does not cover an action that names no repository.
    assert.equal(b.permits('audit.read', {}), false);
  });

  test('compileBindings() limits a stage-scoped role to matching stages, and not to stage-less actions', () => {
    const b = compileBindings([bind('approver', { stages: ['staging', 'prod-*'] })]);
    assert.equal(b.permits('approve', { repository: 'a', stage: 'staging' }), true);
    assert.equal(b.permits('approve', { repository: 'a', stage: 'prod-eu' }), true);
    assert.equal(b.permits('approve', { repository: 'a', stage: 'prod' }), false);
    assert.equal(b.permits('approve', { repository: 'a' }), false);
    assert.equal(b.permits('registry.pull', { repository: 'a' }), false);
  });

  test('compileBindings() needs both scopes of one binding, not one from each of two', () => {
    const b = compileBindings([
      bind('approver', { stages: ['staging'], repos: ['shop/*'] }),
      bind('approver', { stages: ['prod'], repos: ['ops/*'] }),
    ]);
    assert.equal(b.permits('approve', { repository: 'shop/web', stage: 'staging' }), true);
    assert.equal(b.permits('approve', { repository: 'shop/web', stage: 'prod' }), false);
    assert.equal(b.permits('approve', { repository: 'ops/db', stage: 'prod' }), true);
    assert.deepEqual(
      b.holding('approve').map((h) => h.stages),
      [['staging'], ['prod']],
    );
  });

  test('compileBindings() of no bindings allows nothing', () => {
    const b = compileBindings([]);
    for (const action of ACTIONS) assert.equal(b.permits(action, { repository: 'a', stage: 'b' }), false);
  });

  test('normalizePatterns() trims, de-duplicates, and reads ** as unscoped', () => {
    assert.deepEqual(normalizePatterns([' a/* ', 'a/*', 'b']), ['a/*', 'b']);
    assert.equal(normalizePatterns(['team/*', '**']), null);
    assert.equal(normalizePatterns(undefined), null);
    assert.equal(normalizePatterns(null), null);
  });

  test('describeScope() names the stages and repositories of a binding', () => {
    assert.equal(describeScope(bind('viewer')), '');
    assert.equal(
      describeScope(bind('approver', { stages: ['staging'], repos: ['shop/*'] })),
      'for stages staging and repositories shop/*',
    );
  });
});
