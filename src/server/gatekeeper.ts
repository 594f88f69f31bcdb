import type { FastifyRequest } from 'fastify';
import { type Access, AccessError, type Identity, type RepositoryAction } from '../access/index.ts';
import { readCredentials } from './auth.ts';

/** Authorisation for the JSON API: who is calling, and may they do this. Every route asks it first. */
export interface Gatekeeper {
  /** Any valid token; anonymous callers are refused. */
  identify(req: FastifyRequest): Promise<Identity>;
  /** A token with the admin scope. */
  admin(req: FastifyRequest): Promise<Identity>;
  /** A token whose scopes allow `action` on `repository`. */
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
  return {
    identify,
    async admin(req) {
      const identity = await identify(req);
      if (!identity.admin)
        throw new AccessError('FORBIDDEN', 'Cannot do this with a non-admin token: use a token with the admin scope');
      return identity;
    },
    async repository(req, repository, action) {
      const identity = await identify(req);
      if (!identity.allows(repository, action))
        throw new AccessError('FORBIDDEN', `Cannot ${action} "${repository}": the token lacks that scope`);
      return identity;
    },
  };
}
