import type { FastifyRequest } from 'fastify';
import {
  type Access,
  AccessError,
  type Action,
  type Identity,
  type RepositoryAction,
  type Resource,
} from '../access/index.ts';
import { readCredentials } from './auth.ts';

/**
 * Authorisation for the JSON API: who is calling, and may they do this. Every route asks it first; the
 * answer comes from the caller's roles (scoped to stages and repositories) AND the presented token's scopes.
 */
export interface Gatekeeper {
  /** Any valid token; anonymous callers are refused. */
  identify(req: FastifyRequest): Promise<Identity>;
  /** A caller whose roles and token allow `action` on `resource`; 403 saying which role is missing otherwise. */
  authorize(req: FastifyRequest, action: Action, resource?: Resource): Promise<Identity>;
  /** An unscoped admin with an admin-scoped token. */
  admin(req: FastifyRequest): Promise<Identity>;
  /** A caller allowed `registry.<action>` on `repository`. */
  repository(req: FastifyRequest, repository: string, action: RepositoryAction): Promise<Identity>;
}

export function createGatekeeper(access: Access): Gatekeeper {
  const identify = async (req: FastifyRequest): Promise<Identity> => {
    const { identity } = await readCredentials(req, access);
    if (identity === null || identity.kind === 'anonymous') {
      throw new AccessError(
        'UNAUTHENTICATED',
        'Cannot authorize request: send a Fixity token (fixity token create, or DIR/admin.token)',
      );
    }
    return identity;
  };
  const authorize = async (req: FastifyRequest, action: Action, resource: Resource = {}): Promise<Identity> => {
    const identity = await identify(req);
    const refusal = identity.refusal(action, resource);
    if (refusal !== null) throw new AccessError('FORBIDDEN', refusal);
    return identity;
  };
  return {
    identify,
    authorize,
    async admin(req) {
      const identity = await identify(req);
      if (!identity.admin) {
        const { principal, token, roles } = identity;
        const isAdmin = roles.some((b) => b.role === 'admin' && b.stages === null && b.repos === null);
        throw new AccessError(
          'FORBIDDEN',
          !isAdmin
            ? `Cannot do this: ${principal.name} lacks the admin role`
            : token === null
              ? 'Cannot do this with a registry bearer token: use a Fixity token with the admin scope'
              : `Cannot do this with token "${token.name}" (scopes ${token.scopes.join(',')}): use a token with the admin scope`,
        );
      }
      return identity;
    },
    repository: (req, repository, action) => authorize(req, `registry.${action}`, { repository }),
  };
}
