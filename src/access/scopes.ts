import { globToRegExp } from '../core/index.ts';

export const SCOPES = ['pull', 'push', 'delete', 'admin'] as const;
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

// `admin` implies every action; `push` implies `pull`, since every push client reads before it writes.
const IMPLIED: Record<Scope, readonly RepositoryAction[]> = {
  pull: ['pull'],
  push: ['pull', 'push'],
  delete: ['delete'],
  admin: ['pull', 'push', 'delete'],
};

/** Compiles a grant into a fast `allows(repo, action)` check. */
export function compileGrant(grant: Grant): (repo: string, action: RepositoryAction) => boolean {
  const patterns = grant.repos.map((p) => globToRegExp(p));
  const actions = new Set(grant.scopes.flatMap((s) => IMPLIED[s]));
  return (repo, action) => actions.has(action) && patterns.some((p) => p.test(repo));
}
