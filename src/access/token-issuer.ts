import { AccessError } from './access-error.ts';
import type { Identity } from './identity.ts';
import { type Action, READ_ACTIONS, ROLE_ACTIONS } from './roles.ts';
import { patternsWithin, SCOPE_ACTIONS, scopesWithin } from './scopes.ts';
import type { CreatedToken, TokenRequest, TokenView } from './tokens.ts';

interface TokenStore {
  createToken(input: TokenRequest, actor: string): Promise<CreatedToken>;
  revokeToken(id: string, actor: string): Promise<boolean>;
  listTokens(filter?: { principal?: string }): Promise<TokenView[]>;
  findToken(id: string): Promise<{ principalId?: string } | null>;
}

/**
 * Token management on behalf of a caller. Admins (`tokens.manage`) act for anyone. Others manage only
 * their own tokens, and only with a Fixity token carrying the admin scope (a CI token or a registry bearer
 * token cannot mint more tokens); a new token stays within the caller's roles, the creating token's
 * repositories and its expiry.
 */
export function createTokenIssuer(store: TokenStore) {
  const selfService = (caller: Identity, what: string) => {
    const token = caller.token;
    if (token === null) {
      throw new AccessError('FORBIDDEN', `Cannot ${what} with a registry bearer token: use a Fixity token`);
    }
    if (!token.scopes.includes('admin')) {
      throw new AccessError(
        'FORBIDDEN',
        `Cannot ${what} with token "${token.name}" (scopes ${token.scopes.join(',')}): use a token of yours with the admin scope, or ask an admin`,
      );
    }
    return token;
  };

  return {
    /** Creates a token for `input.principal` (default: an admin's new service account, anyone else's self). */
    async createTokenFor(caller: Identity, input: TokenRequest): Promise<CreatedToken> {
      if (caller.can('tokens.manage')) return store.createToken(input, caller.actor);
      const target = input.principal ?? caller.principal.name;
      if (target !== caller.principal.name) {
        throw new AccessError(
          'FORBIDDEN',
          `Cannot create a token for "${target}": ${caller.principal.name} lacks the admin role (tokens only for yourself)`,
        );
      }
      const token = selfService(caller, 'create a token');
      if (!scopesWithin(input.scopes, token.scopes) || !patternsWithin(input.repos, token.repos)) {
        throw new AccessError(
          'FORBIDDEN',
          `Cannot create a token beyond the one creating it (${token.scopes.join(',')} on ${token.repos.join(' ')})`,
        );
      }
      const expiresAt = input.expiresAt ?? null;
      if (token.expiresAt !== null && (expiresAt === null || expiresAt.toISOString() > token.expiresAt)) {
        throw new AccessError(
          'FORBIDDEN',
          `Cannot create a token that outlives the one creating it: give an expiry before ${token.expiresAt}`,
        );
      }
      // A scope none of the caller's roles can use is a mistake worth saying, not a silently empty token.
      const held = new Set<Action>(caller.roles.flatMap((b) => ROLE_ACTIONS[b.role]));
      const unusable = input.scopes.filter(
        (s) =>
          s !== 'admin' && !SCOPE_ACTIONS[s].some((a) => (s === 'pull' || !READ_ACTIONS.includes(a)) && held.has(a)),
      );
      if (unusable.length > 0) {
        throw new AccessError(
          'FORBIDDEN',
          `Cannot create a token with scope ${unusable.join(',')}: ${caller.principal.name} holds no role that uses it`,
        );
      }
      return store.createToken({ ...input, principal: caller.principal.name }, caller.actor);
    },

    /** Every token (admins; `principal` narrows it), or the caller's own. */
    async listTokensFor(caller: Identity, filter: { principal?: string } = {}): Promise<TokenView[]> {
      if (caller.can('tokens.manage')) return store.listTokens(filter);
      if (filter.principal !== undefined && filter.principal !== caller.principal.name) {
        throw new AccessError(
          'FORBIDDEN',
          `Cannot list the tokens of "${filter.principal}": ${caller.principal.name} lacks the admin role`,
        );
      }
      selfService(caller, 'list tokens');
      return store.listTokens({ principal: caller.principal.name });
    },

    /** Revokes a token: admins any, others their own; false when no active token has that id. */
    async revokeTokenFor(caller: Identity, id: string): Promise<boolean> {
      if (!caller.can('tokens.manage')) {
        selfService(caller, `revoke token "${id}"`);
        const found = await store.findToken(id);
        // Someone else's token is reported like a missing one: ids are not for probing.
        if (found === null || found.principalId !== caller.principal.id) return false;
      }
      return store.revokeToken(id, caller.actor);
    },
  };
}
