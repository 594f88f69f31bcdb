import { globToRegExp } from '../core/index.ts';

export const ROLES = ['viewer', 'builder', 'approver', 'releaser', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  'registry.pull',
  'registry.push',
  'registry.delete',
  'sign',
  'attest',
  'keys.manage',
  'pipeline.apply',
  'pipeline.auto',
  'promote',
  'approve',
  'veto',
  'veto.lift',
  'hold',
  'deploy',
  'audit.read',
  'ledger.read',
  'tokens.manage',
  'users.manage',
] as const;
export type Action = (typeof ACTIONS)[number];

/** What an action is done on; a role scoped to stages or repositories only covers resources that name one. */
export interface Resource {
  repository?: string;
  stage?: string;
}

export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);
export const isAction = (value: string): value is Action => (ACTIONS as readonly string[]).includes(value);

/** The reads every role includes. */
export const READ_ACTIONS: readonly Action[] = ['registry.pull', 'audit.read', 'ledger.read'];

/**
 * Which role allows which action. Every role includes the viewer's reads; `admin` allows everything.
 *
 * | role     | actions                                                                  |
 * |----------|--------------------------------------------------------------------------|
 * | viewer   | registry.pull, audit.read, ledger.read                                   |
 * | builder  | viewer + registry.push, registry.delete, sign, attest                    |
 * | approver | viewer + approve, veto                                                   |
 * | releaser | viewer + promote, hold, veto, deploy, pipeline.apply                     |
 * | admin    | every action, and alone: keys.manage, pipeline.auto, veto.lift,          |
 * |          | tokens.manage, users.manage                                              |
 *
 * Vetoing is open to approvers and releasers because stopping a bad digest must be easy; lifting a veto,
 * enabling auto-promotion and managing keys, tokens and principals are the admin's alone.
 */
export const ROLE_ACTIONS: Readonly<Record<Role, readonly Action[]>> = {
  viewer: READ_ACTIONS,
  builder: [...READ_ACTIONS, 'registry.push', 'registry.delete', 'sign', 'attest'],
  approver: [...READ_ACTIONS, 'approve', 'veto'],
  releaser: [...READ_ACTIONS, 'promote', 'hold', 'veto', 'deploy', 'pipeline.apply'],
  admin: ACTIONS,
};

/** The least roles that allow `action`: the admin only when no other role does. */
export function rolesAllowing(action: Action): Role[] {
  const roles = ROLES.filter((r) => r !== 'admin' && ROLE_ACTIONS[r].includes(action));
  return roles.length > 0 ? roles : ['admin'];
}

/** A role granted to a principal; null scopes mean every stage / every repository. */
export interface RoleBinding {
  readonly role: Role;
  readonly stages: readonly string[] | null;
  readonly repos: readonly string[] | null;
}

/** One dimension of a binding's scope: null allows anything, patterns only a resource that names a match. */
function scopeMatcher(patterns: readonly string[] | null): (value: string | undefined) => boolean {
  if (patterns === null) return () => true;
  const res = patterns.map((p) => globToRegExp(p));
  return (value) => value !== undefined && res.some((re) => re.test(value));
}

/** Compiles bindings into a check of `action` on `resource`, and the bindings of a role that missed by scope. */
export function compileBindings(bindings: readonly RoleBinding[]) {
  const compiled = bindings.map((b) => ({
    binding: b,
    actions: new Set<Action>(ROLE_ACTIONS[b.role]),
    stage: scopeMatcher(b.stages),
    repo: scopeMatcher(b.repos),
  }));
  return {
    permits(action: Action, resource: Resource): boolean {
      return compiled.some((c) => c.actions.has(action) && c.stage(resource.stage) && c.repo(resource.repository));
    },
    /** Bindings whose role allows `action`, whatever their scope (for explaining a refusal). */
    holding(action: Action): RoleBinding[] {
      return compiled.filter((c) => c.actions.has(action)).map((c) => c.binding);
    },
  };
}

/** Binding scopes as text: "for stages staging, prod-* and repositories team/**", or "" when unscoped. */
export function describeScope(binding: RoleBinding): string {
  const parts = [
    ...(binding.stages === null ? [] : [`stages ${binding.stages.join(', ')}`]),
    ...(binding.repos === null ? [] : [`repositories ${binding.repos.join(', ')}`]),
  ];
  return parts.length === 0 ? '' : `for ${parts.join(' and ')}`;
}

/** Scope patterns as stored: trimmed, de-duplicated; `**` anywhere in the list means unscoped (null). */
export function normalizePatterns(patterns: readonly string[] | null | undefined): string[] | null {
  if (patterns === null || patterns === undefined) return null;
  const list = [...new Set(patterns.map((p) => p.trim()).filter((p) => p.length > 0))];
  return list.length === 0 || list.includes('**') ? null : list;
}
