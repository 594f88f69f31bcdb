import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { actorPrincipal } from '../core/index.ts';
import {
  ANONYMOUS,
  buildIdentity,
  describeResource,
  distinctPrincipals,
  type PrincipalRef,
  samePrincipal,
  type TokenLimits,
} from './identity.ts';
import type { RoleBinding } from './roles.ts';

const alice: PrincipalRef = { id: 'p-alice', name: 'alice', kind: 'user' };
const token = (scopes: TokenLimits['scopes'], repos: string[] = ['**']): TokenLimits => ({
  id: 'tok123456789',
  name: 'laptop',
  scopes,
  repos,
  expiresAt: null,
});
const admin: RoleBinding = { role: 'admin', stages: null, repos: null };

describe('buildIdentity()', () => {
  test('buildIdentity() records the principal and the token prefix as the actor', () => {
    const id = buildIdentity({ principal: alice, roles: [], token: token(['pull']) });
    assert.equal(id.actor, 'alice#tok12345');
    assert.equal(id.tokenId, 'tok123456789');
    assert.equal(id.kind, 'token');
    assert.deepEqual(id.principal, alice);
  });

  test('buildIdentity() of an admin with a pull-only token can only pull and read', () => {
    const id = buildIdentity({ principal: alice, roles: [admin], token: token(['pull']) });
    assert.equal(id.allows('any/repo', 'pull'), true);
    assert.equal(id.can('audit.read'), true);
    assert.equal(id.allows('any/repo', 'push'), false);
    assert.equal(id.allows('any/repo', 'delete'), false);
    for (const action of ['users.manage', 'tokens.manage', 'approve', 'promote', 'keys.manage'] as const) {
      assert.equal(id.can(action, { repository: 'a', stage: 'b' }), false, action);
    }
    assert.equal(id.admin, false);
  });

  test('buildIdentity() never lets a token exceed its principal roles', () => {
    const viewer = buildIdentity({
      principal: alice,
      roles: [{ role: 'viewer', stages: null, repos: null }],
      token: token(['admin']),
    });
    assert.equal(viewer.allows('a', 'pull'), true);
    assert.equal(viewer.allows('a', 'push'), false);
    assert.equal(viewer.can('users.manage'), false);
    assert.equal(viewer.admin, false);
  });

  test('buildIdentity() limits every repository action to the token repositories', () => {
    const id = buildIdentity({ principal: alice, roles: [admin], token: token(['admin'], ['team/*']) });
    assert.equal(id.allows('team/a', 'delete'), true);
    assert.equal(id.allows('other/a', 'pull'), false);
    assert.equal(id.can('promote', { repository: 'other/a', stage: 'prod' }), false);
    assert.equal(id.can('promote', { repository: 'team/a', stage: 'prod' }), true);
    assert.equal(id.can('users.manage'), true, 'an action on no repository is not limited by repositories');
    assert.equal(id.admin, true);
  });

  test('buildIdentity() with a limit is never an admin and shows no token', () => {
    const id = buildIdentity({
      principal: alice,
      roles: [admin],
      token: token(['admin']),
      limit: (action) => action === 'registry.pull',
    });
    assert.equal(id.admin, false);
    assert.equal(id.token, null);
    assert.equal(id.actor, 'alice#tok12345');
    assert.equal(id.allows('x', 'pull'), true);
    assert.equal(id.allows('x', 'push'), false);
  });

  test('refusal() names the missing role, the scope the principal holds, or the token scope', () => {
    const approver = buildIdentity({
      principal: alice,
      roles: [{ role: 'approver', stages: ['staging'], repos: null }],
      token: token(['release']),
    });
    assert.equal(approver.refusal('approve', { repository: 'shop/web', stage: 'staging' }), null);
    assert.equal(
      approver.refusal('approve', { repository: 'shop/web', stage: 'prod' }),
      'Cannot approve on repository "shop/web", stage "prod": alice lacks the approver role there (holds approver for stages staging)',
    );
    assert.equal(
      approver.refusal('registry.push', { repository: 'shop/web' }),
      'Cannot registry.push on repository "shop/web": alice lacks the builder role',
    );
    assert.equal(approver.refusal('users.manage'), 'Cannot users.manage: alice lacks the admin role');
    const pullOnly = buildIdentity({ principal: alice, roles: [admin], token: token(['pull'], ['team/*']) });
    assert.match(
      pullOnly.refusal('registry.push', { repository: 'team/a' }) ?? '',
      /^Cannot registry.push on repository "team\/a": token "laptop" of alice does not allow it \(scopes pull on team\/\*\)$/,
    );
  });

  test('the anonymous principal has kind anonymous and acts as "anonymous"', () => {
    const id = buildIdentity({
      principal: ANONYMOUS,
      roles: [{ role: 'viewer', stages: null, repos: ['public/**'] }],
      token: null,
      limit: (a) => a === 'registry.pull',
    });
    assert.equal(id.kind, 'anonymous');
    assert.equal(id.actor, 'anonymous');
    assert.equal(id.allows('public/x', 'pull'), true);
    assert.equal(id.allows('private/x', 'pull'), false);
    assert.equal(id.can('audit.read'), false);
  });

  test('describeResource() renders what an action is on', () => {
    assert.equal(describeResource({}), '');
    assert.equal(describeResource({ stage: 'prod' }), ' on stage "prod"');
    assert.equal(describeResource({ repository: 'a/b', stage: 'prod' }), ' on repository "a/b", stage "prod"');
  });
});

describe('separation of duties', () => {
  const bobA = buildIdentity({
    principal: { id: 'p-bob', name: 'bob', kind: 'user' },
    roles: [],
    token: token(['pull']),
  });
  const bobB = buildIdentity({
    principal: { id: 'p-bob', name: 'bob', kind: 'user' },
    roles: [],
    token: { ...token(['admin']), id: 'other0000000' },
  });
  const aliceId = buildIdentity({ principal: alice, roles: [], token: token(['pull']) });

  test('distinctPrincipals() counts two tokens of one principal as one person', () => {
    assert.notEqual(bobA.actor, bobB.actor);
    assert.equal(distinctPrincipals(bobA, bobB), false);
    assert.equal(distinctPrincipals(bobA, aliceId), true);
    assert.equal(distinctPrincipals(bobA.actor, bobB.actor), false);
    assert.equal(distinctPrincipals('alice#12345678', 'bob#12345678', 'carol'), true);
    assert.equal(distinctPrincipals(aliceId, 'alice#ffffffff'), false);
  });

  test('samePrincipal() and actorPrincipal() read the principal out of a recorded actor', () => {
    assert.equal(actorPrincipal('alice#1a2b3c4d'), 'alice');
    assert.equal(actorPrincipal('fixity:auto-promotion'), 'fixity:auto-promotion');
    assert.equal(samePrincipal(bobA, 'bob'), true);
    assert.equal(samePrincipal(bobA, aliceId), false);
  });
});
