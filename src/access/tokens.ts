import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Clock, newId } from '../core/index.ts';
import type { TokenRecord, TokenRecords } from '../store/index.ts';
import { AccessError } from './access-error.ts';
import { ANONYMOUS, buildIdentity, type Identity, type PrincipalRef } from './identity.ts';
import { assertName, createPrincipals, knownBindings, type RoleBindingView } from './principals.ts';
import type { Action, Resource } from './roles.ts';
import { type Grant, isScope, type RepositoryAction, rolesForScopes } from './scopes.ts';
import { createTokenIssuer } from './token-issuer.ts';

const SECRET_PREFIX = 'fxt_';
const BEARER_PREFIX = 'fxb.';
const CACHE_MS = 5_000;

/** A token as the API shows it: never its secret or hash. */
export interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  repos: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** The principal it belongs to. */
  principal: PrincipalRef | null;
}

export interface CreatedToken {
  /** Shown once; only its SHA-256 is stored. */
  secret: string;
  token: TokenView;
}

/** A token to create; without `principal`, for the service account named after the token (see createToken). */
export interface TokenRequest extends Grant {
  name: string;
  expiresAt?: Date | null;
  principal?: string;
}

export interface AccessOptions {
  records: TokenRecords;
  clock: Clock;
  /** Key for the short-lived bearer tokens the Docker token flow issues. */
  signingKey: Uint8Array;
  /** Repositories anonymous callers may pull; empty means anonymous access is off. */
  anonymousPull?: readonly string[];
  bearerTtlSeconds?: number;
}

/** One-shot: a Hash object per request costs more than the hashing of a token. */
const sha256 = (s: string) => hash('sha256', s, 'buffer');

type Stored<T extends keyof TokenRecords> = NonNullable<Awaited<ReturnType<TokenRecords[T]>>>;
interface Context {
  principal: PrincipalRef & { disabledAt: string | null };
  roles: RoleBindingView[];
}

/**
 * Principals, their roles and tokens: creation, revocation, authentication of secrets and bearer tokens,
 * and the identities whose `can(action, resource)` every check asks.
 */
export function createAccess(options: AccessOptions) {
  const { records, clock, signingKey, anonymousPull = [], bearerTtlSeconds = 900 } = options;
  // Tokens by hash/id and principals' roles, briefly, so hot paths do not query per request; every change
  // made through this object clears it, so revocations, role changes and disabling take effect at once.
  const cache = new Map<string, { value: unknown; until: number }>();
  const invalidate = () => cache.clear();
  const cached = async <T>(key: string, load: () => Promise<T>): Promise<T> => {
    const hit = cache.get(key);
    const now = Date.now();
    if (hit !== undefined && hit.until > now) return hit.value as T;
    const value = await load();
    if (cache.size > 10_000) cache.clear();
    cache.set(key, { value, until: now + CACHE_MS });
    return value;
  };
  const principals = createPrincipals(records, clock, invalidate);

  // Anonymous callers pull from `anonymousPull` and do nothing else.
  const anonymousInput = {
    principal: ANONYMOUS,
    roles: [{ role: 'viewer', stages: null, repos: anonymousPull }] as const,
    token: null,
  };
  const anonymous = buildIdentity({ ...anonymousInput, limit: (action) => action === 'registry.pull' });
  const usable = (record: TokenRecord | null) => {
    if (record === null || record.revokedAt !== null) return null;
    if (record.expiresAt !== null && record.expiresAt <= clock.now().toISOString()) return null;
    return record;
  };
  const lookup = async (value: string, by: 'hash' | 'id') =>
    usable(await cached(`${by}:${value}`, () => (by === 'hash' ? records.findByHash(value) : records.findById(value))));
  const context = (principalId: string) =>
    cached(`principal:${principalId}`, async (): Promise<Context | null> => {
      const p = await records.findPrincipal({ id: principalId });
      if (p === null) return null;
      const ref = { id: p.id, name: p.name, kind: p.kind, disabledAt: p.disabledAt };
      return { principal: ref, roles: knownBindings(await records.bindings([p.id])) };
    });
  // Identities built from a cached token record and its cached principal context, rebuilt when either reloads
  // (so every invalidation still takes effect at once): building one compiles the grants' patterns.
  const identities = new WeakMap<TokenRecord, { ctx: Context; identity: Identity }>();
  /** The identity of a usable token: null when it has no principal or its principal is disabled. */
  const resolve = async (record: TokenRecord, limit?: (action: Action, resource: Resource) => boolean) => {
    if (record.principalId === undefined) return null;
    const ctx = await context(record.principalId);
    if (ctx === null || ctx.principal.disabledAt !== null) return null;
    if (limit === undefined) {
      const memo = identities.get(record);
      if (memo?.ctx === ctx) return memo.identity;
      const identity = build(record, ctx);
      identities.set(record, { ctx, identity });
      return identity;
    }
    return build(record, ctx, limit);
  };
  const build = (record: TokenRecord, ctx: Context, limit?: (action: Action, resource: Resource) => boolean) => {
    const { disabledAt: _disabled, ...principal } = ctx.principal;
    return buildIdentity({
      principal,
      roles: ctx.roles,
      token: {
        id: record.id,
        name: record.name,
        scopes: record.scopes.filter(isScope),
        repos: record.repos,
        expiresAt: record.expiresAt,
      },
      ...(limit === undefined ? {} : { limit }),
    });
  };
  const view = (record: TokenRecord, principal: PrincipalRef | null): TokenView => {
    const { hash: _hash, principalId: _id, ...rest } = record;
    return { ...rest, principal };
  };

  /** The trusted path: validates, finds or creates the principal, stores the hash, returns the secret once. */
  const createToken = async (input: TokenRequest, actor: string): Promise<CreatedToken> => {
    const name = assertName(input.name, 'create token');
    if (input.scopes.length === 0 || !input.scopes.every(isScope)) {
      throw new AccessError(
        'SCOPE_INVALID',
        'Cannot create token: scopes must be some of pull, push, delete, release, admin',
      );
    }
    if (input.repos.length === 0 || input.repos.some((r) => r.length === 0 || r.length > 255)) {
      throw new AccessError(
        'SCOPE_INVALID',
        'Cannot create token: give at least one repository pattern (e.g. "**" or "team/*")',
      );
    }
    const principal = await ownerOf(input, actor);
    const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
    const record: TokenRecord = {
      id: newId(12),
      name,
      hash: sha256(secret).toString('hex'),
      scopes: [...input.scopes],
      repos: [...input.repos],
      createdAt: clock.now().toISOString(),
      expiresAt: input.expiresAt ? input.expiresAt.toISOString() : null,
      revokedAt: null,
      principalId: principal.id,
    };
    await records.insert(record, actor);
    return { secret, token: view(record, principal) };
  };

  // A named principal must exist and be enabled; without one, the token's name names a service account,
  // created with the roles the scopes imply when it does not exist (an existing one keeps its roles).
  const ownerOf = async (input: TokenRequest, actor: string): Promise<PrincipalRef> => {
    const name = input.principal ?? input.name;
    let found: Stored<'findPrincipal'> | null = await records.findPrincipal({ name });
    if (found === null && input.principal !== undefined) {
      throw new AccessError('NOT_FOUND', `Cannot create token: no user or service account is named "${name}"`);
    }
    if (found === null) {
      await principals.create({ name, kind: 'service', roles: rolesForScopes(input) }, actor).catch((err) => {
        // Created meanwhile by a concurrent request: use that one.
        if (!(err instanceof AccessError && err.code === 'SCOPE_INVALID')) throw err;
      });
      found = await records.findPrincipal({ name });
    }
    if (found === null) throw new AccessError('NOT_FOUND', `Cannot create token: "${name}" could not be created`);
    if (found.disabledAt !== null) {
      throw new AccessError('FORBIDDEN', `Cannot create token for "${name}": it was disabled at ${found.disabledAt}`);
    }
    return { id: found.id, name: found.name, kind: found.kind };
  };

  const listTokens = async (filter: { principal?: string } = {}): Promise<TokenView[]> => {
    const all = await records.listPrincipals();
    const byId = new Map(all.map((p) => [p.id, { id: p.id, name: p.name, kind: p.kind }]));
    let principalId: string | undefined;
    if (filter.principal !== undefined) {
      principalId = all.find((p) => p.name === filter.principal)?.id;
      if (principalId === undefined) {
        throw new AccessError(
          'NOT_FOUND',
          `Cannot list tokens: no user or service account is named "${filter.principal}"`,
        );
      }
    }
    const list = await records.list(principalId === undefined ? {} : { principalId });
    return list.map((t) => view(t, t.principalId === undefined ? null : (byId.get(t.principalId) ?? null)));
  };

  const revokeToken = async (id: string, actor: string): Promise<boolean> => {
    const done = await records.revoke(id, clock.now().toISOString(), actor);
    invalidate();
    return done;
  };

  return {
    anonymous,
    anonymousEnabled: anonymousPull.length > 0,
    principals,

    /**
     * Creates a token and returns its secret once (trusted callers: the bootstrap, tests). Without
     * `principal`, the token belongs to the service account named after it, created with the roles its
     * scopes imply (admin → admin; push or delete → builder; pull → viewer; release → approver and releaser).
     */
    createToken,
    revokeToken,
    listTokens,

    ...createTokenIssuer({ createToken, revokeToken, listTokens, findToken: (id) => records.findById(id) }),

    /** Authenticates a token secret (HTTP Basic password or raw bearer); null when unknown, revoked, expired or disabled. */
    async authenticateSecret(secret: string): Promise<Identity | null> {
      if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) return null;
      const digest = sha256(secret);
      const record = await lookup(digest.toString('hex'), 'hash');
      // The lookup matched by hash; compare again in constant time so no code path branches on a partial match.
      if (record === null || !timingSafeEqual(Buffer.from(record.hash, 'hex'), digest)) return null;
      return resolve(record);
    },

    /** Issues a short-lived bearer token for the Docker token flow, granting what was asked AND is allowed. */
    issueBearer(identity: Identity, requested: ReadonlyArray<{ repo: string; actions: readonly RepositoryAction[] }>) {
      const access = requested
        .map((r) => ({ repo: r.repo, actions: r.actions.filter((a) => identity.allows(r.repo, a)) }))
        .filter((r) => r.actions.length > 0);
      const iat = Math.floor(clock.now().getTime() / 1000);
      const payload = Buffer.from(
        JSON.stringify({ sub: identity.tokenId, access, iat, exp: iat + bearerTtlSeconds }),
      ).toString('base64url');
      const mac = createHmac('sha256', signingKey).update(payload).digest('base64url');
      return {
        token: `${BEARER_PREFIX}${payload}.${mac}`,
        expiresIn: bearerTtlSeconds,
        issuedAt: new Date(iat * 1000),
        access,
      };
    },

    /** Verifies a bearer token this server issued; null when forged, expired, or its token or principal is no longer valid. */
    async verifyBearer(token: string): Promise<Identity | null> {
      if (!token.startsWith(BEARER_PREFIX) || token.length > 16_384) return null;
      const [payload, mac] = token.slice(BEARER_PREFIX.length).split('.');
      if (payload === undefined || mac === undefined) return null;
      const expected = createHmac('sha256', signingKey).update(payload).digest();
      const given = Buffer.from(mac, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      let claims: { sub: string | null; access: Array<{ repo: string; actions: RepositoryAction[] }>; exp: number };
      try {
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        return null;
      }
      if (claims.exp * 1000 <= clock.now().getTime()) return null;
      const granted = new Map(claims.access.map((a) => [a.repo, new Set<string>(a.actions)]));
      // Registry actions only, on the repositories and actions the token was issued for.
      const limit = (action: Action, resource: Resource) =>
        action.startsWith('registry.') &&
        resource.repository !== undefined &&
        (granted.get(resource.repository)?.has(action.slice('registry.'.length)) ?? false);
      if (claims.sub === null) return buildIdentity({ ...anonymousInput, limit });
      const record = await lookup(claims.sub, 'id');
      return record === null ? null : resolve(record, limit);
    },
  };
}

export type Access = ReturnType<typeof createAccess>;
