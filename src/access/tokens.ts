import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Clock, newId } from '../core/index.ts';
import type { TokenRecord, TokenRecords } from '../store/index.ts';
import { AccessError } from './access-error.ts';
import { compileGrant, type Grant, isScope, type RepositoryAction, type Scope } from './scopes.ts';

const SECRET_PREFIX = 'fxt_';
const BEARER_PREFIX = 'fxb.';
const CACHE_MS = 5_000;

/** An authenticated caller. `actor` is what events record. */
export interface Identity {
  readonly kind: 'token' | 'anonymous';
  readonly tokenId: string | null;
  readonly actor: string;
  readonly admin: boolean;
  allows(repo: string, action: RepositoryAction): boolean;
}

export interface CreatedToken {
  /** Shown once; only its SHA-256 is stored. */
  secret: string;
  token: Omit<TokenRecord, 'hash'>;
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

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Tokens: creation, revocation, authentication of secrets and bearer tokens, and scope checks. */
export function createAccess(options: AccessOptions) {
  const { records, clock, signingKey, anonymousPull = [], bearerTtlSeconds = 900 } = options;
  // Verified records by hash, briefly, so hot paths do not query per request; revoke() clears it.
  const cache = new Map<string, { record: TokenRecord | null; until: number }>();

  const toIdentity = (record: TokenRecord, limit?: (repo: string, action: RepositoryAction) => boolean): Identity => {
    const allows = compileGrant({ scopes: record.scopes as Scope[], repos: record.repos });
    return {
      kind: 'token',
      tokenId: record.id,
      actor: `${record.name}#${record.id.slice(0, 8)}`,
      admin: limit === undefined && record.scopes.includes('admin'),
      allows: limit === undefined ? allows : (repo, action) => allows(repo, action) && limit(repo, action),
    };
  };
  const anonymous: Identity = {
    kind: 'anonymous',
    tokenId: null,
    actor: 'anonymous',
    admin: false,
    allows: compileGrant({ scopes: ['pull'], repos: anonymousPull }),
  };
  const usable = (record: TokenRecord | null) => {
    if (record === null || record.revokedAt !== null) return null;
    if (record.expiresAt !== null && record.expiresAt <= clock.now().toISOString()) return null;
    return record;
  };
  const lookup = async (hashHex: string, by: 'hash' | 'id') => {
    const key = `${by}:${hashHex}`;
    const hit = cache.get(key);
    const now = Date.now();
    if (hit !== undefined && hit.until > now) return usable(hit.record);
    const record = by === 'hash' ? await records.findByHash(hashHex) : await records.findById(hashHex);
    if (cache.size > 10_000) cache.clear();
    cache.set(key, { record, until: now + CACHE_MS });
    return usable(record);
  };

  return {
    anonymous,
    anonymousEnabled: anonymousPull.length > 0,

    /** Creates a token with `grant`; returns the secret once. */
    async createToken(input: { name: string; expiresAt?: Date | null } & Grant, actor: string): Promise<CreatedToken> {
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(input.name)) {
        throw new AccessError(
          'SCOPE_INVALID',
          `Cannot create token "${input.name.slice(0, 64)}": use 1-64 letters, digits, . _ @ -`,
        );
      }
      if (input.scopes.length === 0 || !input.scopes.every(isScope)) {
        throw new AccessError('SCOPE_INVALID', `Cannot create token: scopes must be some of pull, push, delete, admin`);
      }
      if (input.repos.length === 0 || input.repos.some((r) => r.length === 0 || r.length > 255)) {
        throw new AccessError(
          'SCOPE_INVALID',
          'Cannot create token: give at least one repository pattern (e.g. "**" or "team/*")',
        );
      }
      const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
      const record: TokenRecord = {
        id: newId(12),
        name: input.name,
        hash: sha256(secret).toString('hex'),
        scopes: [...input.scopes],
        repos: [...input.repos],
        createdAt: clock.now().toISOString(),
        expiresAt: input.expiresAt ? input.expiresAt.toISOString() : null,
        revokedAt: null,
      };
      await records.insert(record, actor);
      const { hash: _hash, ...token } = record;
      return { secret, token };
    },

    async revokeToken(id: string, actor: string): Promise<boolean> {
      const done = await records.revoke(id, clock.now().toISOString(), actor);
      cache.clear();
      return done;
    },

    async listTokens(): Promise<Array<Omit<TokenRecord, 'hash'>>> {
      return (await records.list()).map(({ hash: _hash, ...t }) => t);
    },

    /** Authenticates a token secret (HTTP Basic password or raw bearer); null when unknown, revoked or expired. */
    async authenticateSecret(secret: string): Promise<Identity | null> {
      if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) return null;
      const digest = sha256(secret);
      const record = await lookup(digest.toString('hex'), 'hash');
      // The lookup matched by hash; compare again in constant time so no code path branches on a partial match.
      if (record === null || !timingSafeEqual(Buffer.from(record.hash, 'hex'), digest)) return null;
      return toIdentity(record);
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

    /** Verifies a bearer token this server issued; null when forged, expired, or its token was revoked. */
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
      const granted = new Map(claims.access.map((a) => [a.repo, new Set(a.actions)]));
      const limit = (repo: string, action: RepositoryAction) => granted.get(repo)?.has(action) ?? false;
      if (claims.sub === null)
        return { ...anonymous, allows: (repo, action) => anonymous.allows(repo, action) && limit(repo, action) };
      const record = await lookup(claims.sub, 'id');
      return record === null ? null : toIdentity(record, limit);
    },
  };
}

export type Access = ReturnType<typeof createAccess>;
