import { actorPrincipal } from '../core/index.ts';
import {
  type Action,
  compileBindings,
  describeScope,
  type Resource,
  type RoleBinding,
  rolesAllowing,
} from './roles.ts';
import { compileGrant, type Grant, type RepositoryAction } from './scopes.ts';

/** Who acts: a user or service account, or the anonymous caller. Names are unique and never reused. */
export interface PrincipalRef {
  readonly id: string;
  readonly name: string;
  readonly kind: 'user' | 'service' | 'anonymous';
}

/** The presented token's own limits; a token never does more than its scopes AND its principal's roles. */
export interface TokenLimits {
  readonly id: string;
  readonly name: string;
  readonly scopes: Grant['scopes'];
  readonly repos: readonly string[];
  readonly expiresAt: string | null;
}

/** An authenticated caller. `actor` is what events record: `<principal>#<token id prefix>`. */
export interface Identity {
  readonly kind: 'token' | 'anonymous';
  readonly tokenId: string | null;
  readonly actor: string;
  readonly principal: PrincipalRef;
  /** The role bindings in force when the credential was checked. */
  readonly roles: readonly RoleBinding[];
  /** The token presented, when it was a Fixity token; null for anonymous callers and registry bearer tokens. */
  readonly token: TokenLimits | null;
  /** Holds an unscoped admin role and presented an admin-scoped Fixity token. */
  readonly admin: boolean;
  allows(repo: string, action: RepositoryAction): boolean;
  can(action: Action, resource?: Resource): boolean;
  /** Why `can` answers false, as "Cannot …: …"; null when it answers true. */
  refusal(action: Action, resource?: Resource): string | null;
}

export const ANONYMOUS: PrincipalRef = Object.freeze({ id: 'anonymous', name: 'anonymous', kind: 'anonymous' });

/** `on repository "a/b", stage "prod"`, or "" for an action on nothing in particular. */
export function describeResource(resource: Resource): string {
  const parts = [
    ...(resource.repository === undefined ? [] : [`repository "${resource.repository}"`]),
    ...(resource.stage === undefined ? [] : [`stage "${resource.stage}"`]),
  ];
  return parts.length === 0 ? '' : ` on ${parts.join(', ')}`;
}

export interface IdentityInput {
  principal: PrincipalRef;
  roles: readonly RoleBinding[];
  /** The token behind the credential; null for anonymous callers. */
  token: TokenLimits | null;
  /**
   * A further limit: a registry bearer token's access list, or the anonymous caller's pulls. An identity
   * with one is never an admin and cannot manage tokens.
   */
  limit?: (action: Action, resource: Resource) => boolean;
}

/** Builds an identity whose every check is: a role allows it, AND the token's scopes allow it. */
export function buildIdentity(input: IdentityInput): Identity {
  const { principal, roles, token, limit } = input;
  const bindings = compileBindings(roles);
  const tokenAllows = token === null ? () => true : compileGrant(token);
  const can = (action: Action, resource: Resource = {}) =>
    bindings.permits(action, resource) && tokenAllows(action, resource) && (limit?.(action, resource) ?? true);
  const who = principal.kind === 'anonymous' ? 'an anonymous caller' : principal.name;
  return {
    kind: principal.kind === 'anonymous' ? 'anonymous' : 'token',
    tokenId: token?.id ?? null,
    actor: token === null ? principal.name : `${principal.name}#${token.id.slice(0, 8)}`,
    principal,
    roles,
    token: limit === undefined ? token : null,
    admin: token !== null && limit === undefined && can('users.manage') && can('keys.manage'),
    allows: (repo, action) => can(`registry.${action}`, { repository: repo }),
    can,
    refusal(action, resource = {}) {
      if (can(action, resource)) return null;
      const head = `Cannot ${action}${describeResource(resource)}`;
      if (!bindings.permits(action, resource)) {
        const held = bindings.holding(action);
        const needed = rolesAllowing(action).join(' or ');
        if (held.length === 0) return `${head}: ${who} lacks the ${needed} role`;
        const scopes = held.map((b) => `${b.role} ${describeScope(b)}`.trim()).join('; ');
        return `${head}: ${who} lacks the ${needed} role there (holds ${scopes})`;
      }
      if (token !== null && !tokenAllows(action, resource)) {
        return `${head}: token "${token.name}" of ${who} does not allow it (scopes ${token.scopes.join(',')} on ${token.repos.join(' ')})`;
      }
      return `${head}: this credential does not grant it (a registry bearer token carries only the access it was issued with)`;
    },
  };
}

/**
 * Separation of duties: whether every party is a different principal. Takes identities or recorded actor
 * strings, so two tokens of one person count as one person.
 */
export function distinctPrincipals(...parties: ReadonlyArray<Identity | string>): boolean {
  const names = parties.map((p) => (typeof p === 'string' ? actorPrincipal(p) : p.principal.name));
  return new Set(names).size === names.length;
}

/** Whether two parties (identities or recorded actors) are the same principal. */
export function samePrincipal(a: Identity | string, b: Identity | string): boolean {
  return !distinctPrincipals(a, b);
}
