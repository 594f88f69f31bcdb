import type { FastifyInstance } from 'fastify';
import type { Access, RepositoryAction } from '../access/index.ts';
import { readCredentials } from './auth.ts';

// scope=repository:<name>:<actions>; `*` asks for everything the token may do.
function parseScopes(values: string[]): Array<{ repo: string; actions: RepositoryAction[] }> {
  const out: Array<{ repo: string; actions: RepositoryAction[] }> = [];
  for (const value of values) {
    for (const scope of value.split(' ')) {
      const m = /^repository(?:\([^)]*\))?:(.+):([a-z*,]+)$/.exec(scope);
      if (m === null) continue;
      const actions = m[2]!
        .split(',')
        .flatMap((a): RepositoryAction[] =>
          a === '*' ? ['pull', 'push', 'delete'] : a === 'pull' || a === 'push' || a === 'delete' ? [a] : [],
        );
      out.push({ repo: m[1]!, actions });
    }
  }
  return out;
}

/** GET /token: the Docker registry token flow (docker, skopeo, oras, crane log in through it). */
export async function tokenEndpoint(app: FastifyInstance, deps: { access: Access }): Promise<void> {
  app.get('/token', async (req, reply) => {
    const { kind, identity } = await readCredentials(req, deps.access);
    if (identity === null || (kind === 'none' && !deps.access.anonymousEnabled)) {
      reply.header('WWW-Authenticate', 'Basic realm="fixity"');
      return reply.code(401).send({
        errors: [{ code: 'UNAUTHORIZED', message: 'Cannot issue a token: log in with a Fixity token as the password' }],
      });
    }
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const issued = deps.access.issueBearer(identity, parseScopes(query.getAll('scope')));
    return reply.send({
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
    });
  });
}
