import { type Clock, newId } from '../core/index.ts';
import type { TokenRecords } from '../store/index.ts';
import { AccessError } from './access-error.ts';
import { isRole, normalizePatterns, ROLES, type RoleBinding } from './roles.ts';

export type PrincipalKind = 'user' | 'service';

/** A role binding as the API shows it. */
export interface RoleBindingView extends RoleBinding {
  readonly id: string;
  readonly grantedAt: string;
  readonly grantedBy: string;
}

export interface PrincipalView {
  id: string;
  name: string;
  kind: PrincipalKind;
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
  disabledBy: string | null;
  roles: RoleBindingView[];
}

/** A role to grant: `stages`/`repos` omitted or null mean every stage / repository. */
export interface RoleGrant {
  role: string;
  stages?: readonly string[] | null | undefined;
  repos?: readonly string[] | null | undefined;
}

export const NAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;
// `anonymous` is the unauthenticated caller's name in events, and `me` is GET /users/me.
const RESERVED = new Set(['anonymous', 'me']);

type StoredPrincipal = NonNullable<Awaited<ReturnType<TokenRecords['findPrincipal']>>>;
type StoredBinding = Awaited<ReturnType<TokenRecords['bindings']>>[number];

export const toBindingView = (b: StoredBinding): RoleBindingView => ({
  id: b.id,
  role: isRole(b.role) ? b.role : 'viewer',
  stages: b.stages,
  repos: b.repos,
  grantedAt: b.grantedAt,
  grantedBy: b.grantedBy,
});

/** Only known roles take effect; a row with another name (from a newer version) grants nothing. */
export const knownBindings = (bindings: readonly StoredBinding[]): RoleBindingView[] =>
  bindings.filter((b) => isRole(b.role)).map(toBindingView);

export function assertName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name) || RESERVED.has(name)) {
    throw new AccessError(
      'SCOPE_INVALID',
      `Cannot ${what} "${String(name).slice(0, 64)}": use 1-64 letters, digits, . _ @ - (not "anonymous" or "me")`,
    );
  }
  return name;
}

function parsePatterns(value: unknown, what: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.length > 32 ||
    !value.every((p) => typeof p === 'string' && p.trim().length > 0 && p.length <= 255)
  ) {
    throw new AccessError('SCOPE_INVALID', `Cannot scope a role: ${what} must be 1-32 non-empty patterns, or omitted`);
  }
  return normalizePatterns(value as string[]);
}

/** Checks a role grant from outside (role name, pattern lists) and normalises its scopes. */
export function parseRoleGrant(input: RoleGrant): RoleBinding {
  if (typeof input.role !== 'string' || !isRole(input.role)) {
    throw new AccessError(
      'SCOPE_INVALID',
      `Cannot grant role "${String(input.role).slice(0, 32)}": roles are ${ROLES.join(', ')}`,
    );
  }
  return {
    role: input.role,
    stages: parsePatterns(input.stages, 'stages'),
    repos: parsePatterns(input.repos, 'repos'),
  };
}

/** Users and service accounts and their roles: creation, grants, revocations, disabling. */
export function createPrincipals(records: TokenRecords, clock: Clock, changed: () => void) {
  const view = async (p: StoredPrincipal): Promise<PrincipalView> => ({
    ...p,
    roles: knownBindings(await records.bindings([p.id])),
  });
  const find = async (name: string, what: string): Promise<StoredPrincipal> => {
    const p = await records.findPrincipal({ name });
    if (p === null) throw new AccessError('NOT_FOUND', `Cannot ${what}: no user or service account is named "${name}"`);
    return p;
  };
  const binding = (principalId: string, b: RoleBinding, actor: string, at: string) => ({
    id: newId(12),
    principalId,
    role: b.role,
    stages: b.stages === null ? null : [...b.stages],
    repos: b.repos === null ? null : [...b.repos],
    grantedAt: at,
    grantedBy: actor,
    revokedAt: null,
    revokedBy: null,
  });

  return {
    /** Creates a principal with roles; refuses a taken name. */
    async create(
      input: { name: string; kind?: PrincipalKind; roles?: readonly RoleGrant[] },
      actor: string,
    ): Promise<PrincipalView> {
      const name = assertName(input.name, 'create user');
      const kind = input.kind ?? 'user';
      if (kind !== 'user' && kind !== 'service')
        throw new AccessError('SCOPE_INVALID', `Cannot create "${name}": kind must be user or service`);
      const roles = (input.roles ?? []).map(parseRoleGrant);
      const at = clock.now().toISOString();
      const principal = {
        id: newId(12),
        name,
        kind,
        createdAt: at,
        createdBy: actor,
        disabledAt: null,
        disabledBy: null,
      };
      const bindings = roles.map((r) => binding(principal.id, r, actor, at));
      if (!(await records.insertPrincipal(principal, bindings))) {
        throw new AccessError('SCOPE_INVALID', `Cannot create "${name}": that name is taken (fixity user list)`);
      }
      changed();
      return view(principal);
    },

    async get(name: string): Promise<PrincipalView | null> {
      const p = await records.findPrincipal({ name });
      return p === null ? null : view(p);
    },

    async list(): Promise<PrincipalView[]> {
      const all = await records.listPrincipals();
      const bindings = await records.bindings(all.map((p) => p.id));
      return all.map((p) => ({ ...p, roles: knownBindings(bindings.filter((b) => b.principalId === p.id)) }));
    },

    /** Disables a principal: every token of it stops working at once. Refuses to disable the last admin. */
    async disable(name: string, actor: string): Promise<PrincipalView> {
      const p = await find(name, `disable "${name}"`);
      const outcome = await records.disablePrincipal(p.id, clock.now().toISOString(), actor);
      changed();
      if (outcome === 'last-admin') {
        throw new AccessError(
          'FORBIDDEN',
          `Cannot disable "${name}": it is the last enabled principal with the admin role`,
        );
      }
      return view((await records.findPrincipal({ id: p.id })) ?? p);
    },

    /** Grants a role (optionally scoped); granting one already held changes nothing. */
    async grant(
      name: string,
      grant: RoleGrant,
      actor: string,
    ): Promise<{ binding: RoleBindingView; created: boolean }> {
      const b = parseRoleGrant(grant);
      const p = await find(name, `grant ${b.role} to "${name}"`);
      const result = await records.grant(binding(p.id, b, actor, clock.now().toISOString()));
      changed();
      return { binding: toBindingView(result.binding), created: result.created };
    },

    /**
     * Revokes a role: every binding of it, or only the one with exactly these scopes when given. Takes
     * effect at once; refuses to remove the last unscoped admin.
     */
    async revoke(name: string, grant: RoleGrant, actor: string): Promise<RoleBindingView[]> {
      const b = parseRoleGrant(grant);
      const p = await find(name, `revoke ${b.role} from "${name}"`);
      const revoked = await records.revokeRole(
        {
          principalId: p.id,
          role: b.role,
          ...(grant.stages === undefined ? {} : { stages: b.stages }),
          ...(grant.repos === undefined ? {} : { repos: b.repos }),
        },
        clock.now().toISOString(),
        actor,
      );
      changed();
      if (revoked === 'last-admin') {
        throw new AccessError('FORBIDDEN', `Cannot revoke admin from "${name}": no enabled admin would be left`);
      }
      return revoked.map(toBindingView);
    },
  };
}

export type Principals = ReturnType<typeof createPrincipals>;
