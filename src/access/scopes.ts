import { globToRegExp } from '../core/index.ts';
import { ACTIONS, type Action, normalizePatterns, READ_ACTIONS, type Resource, type RoleBinding } from './roles.ts';

export const SCOPES = ['pull', 'push', 'delete', 'release', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export type RepositoryAction = 'pull' | 'push' | 'delete';

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** What a credential may do: scopes, on repositories matching any of the patterns. */
export interface Grant {
  scopes: readonly Scope[];
  repos: readonly string[];
}

/**
 * The actions a token's scopes let it use, of those its principal's roles allow. `push` implies `pull`,
 * since every push client reads before it writes; `admin` carries everything the principal may do,
 * including managing the principal's own tokens.
 */
export const SCOPE_ACTIONS: Readonly<Record<Scope, readonly Action[]>> = {
  pull: READ_ACTIONS,
  push: [...READ_ACTIONS, 'registry.push', 'sign', 'attest'],
  delete: ['registry.delete'],
  release: [...READ_ACTIONS, 'promote', 'approve', 'veto', 'hold', 'deploy', 'pipeline.apply'],
  admin: ACTIONS,
};

/**
 * Compiles a token's grant into its limit: the scopes' actions, and for an action on a repository, one of
 * the grant's repository patterns must match it.
 */
export function compileGrant(grant: Grant): (action: Action, resource: Resource) => boolean {
  const patterns = grant.repos.map((p) => globToRegExp(p));
  const actions = new Set(grant.scopes.flatMap((s) => SCOPE_ACTIONS[s] ?? []));
  return (action, resource) =>
    actions.has(action) &&
    (resource.repository === undefined || patterns.some((p) => p.test(resource.repository as string)));
}

/**
 * The roles a token's scopes imply, for a principal created from a token without one (the bootstrap admin
 * token, tokens made before principals existed, and `POST /tokens` with a new name).
 */
export function rolesForScopes(grant: Grant): RoleBinding[] {
  if (grant.scopes.includes('admin')) return [{ role: 'admin', stages: null, repos: null }];
  const repos = normalizePatterns(grant.repos);
  const roles: RoleBinding[] = [];
  if (grant.scopes.includes('push') || grant.scopes.includes('delete'))
    roles.push({ role: 'builder', stages: null, repos });
  else if (grant.scopes.includes('pull')) roles.push({ role: 'viewer', stages: null, repos });
  if (grant.scopes.includes('release')) {
    roles.push({ role: 'approver', stages: null, repos }, { role: 'releaser', stages: null, repos });
  }
  return roles;
}

const GLOB = /[*?]/;

/**
 * Whether every repository `inner` matches is matched by `outer`, decided conservatively: `**` covers all,
 * a pattern covers itself, and a literal name is covered by any pattern matching it.
 */
export function patternsWithin(inner: readonly string[], outer: readonly string[]): boolean {
  if (outer.includes('**')) return true;
  const res = outer.map((p) => globToRegExp(p));
  return inner.every((p) => outer.includes(p) || (!GLOB.test(p) && res.some((re) => re.test(p))));
}

/** Whether the actions of `inner` scopes are all among those of `outer` scopes. */
export function scopesWithin(inner: readonly Scope[], outer: readonly Scope[]): boolean {
  const allowed = new Set(outer.flatMap((s) => SCOPE_ACTIONS[s]));
  return inner.every((s) => SCOPE_ACTIONS[s].every((a) => allowed.has(a)));
}
