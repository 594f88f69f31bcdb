import type { FastifyRequest } from 'fastify';
import type { Access, Identity, RepositoryAction } from '../access/index.ts';
import { type Action, type Authorize, type Principal, RegistryError } from '../registry/index.ts';

export interface Credentials {
  kind: 'basic' | 'bearer' | 'none';
  identity: Identity | null;
  /** A bearer token from the token flow, whose scope is narrower than its owner's. */
  scoped: boolean;
}

/** Reads `Authorization` (Basic with the token as password, or Bearer) into an identity. */
export async function readCredentials(req: FastifyRequest, access: Access): Promise<Credentials> {
  const header = req.headers.authorization;
  if (header === undefined || header === '')
    return { kind: 'none', identity: access.anonymousEnabled ? access.anonymous : null, scoped: false };
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    return { kind: 'basic', identity: await access.authenticateSecret(password), scoped: false };
  }
  if (scheme === 'bearer') {
    const scoped = value.startsWith('fxb.');
    return {
      kind: 'bearer',
      identity: scoped ? await access.verifyBearer(value) : await access.authenticateSecret(value),
      scoped,
    };
  }
  return { kind: 'none', identity: null, scoped: false };
}

export interface ChallengeOptions {
  /** Public base URL; when absent, derived from the request's Host. */
  publicUrl?: string;
  service: string;
}

export function baseUrl(req: FastifyRequest, publicUrl?: string): string {
  return publicUrl ?? `${req.protocol}://${req.headers.host ?? req.hostname}`;
}

/** The registry's Authorize port: Basic/Bearer/anonymous, with Docker token-flow challenges. */
export function createRegistryAuthorizer(access: Access, options: ChallengeOptions): Authorize {
  const challenge = (req: FastifyRequest, repo: string | null, actions: readonly Action[], error?: string) => {
    const parts = [`realm="${baseUrl(req, options.publicUrl)}/token"`, `service="${options.service}"`];
    if (repo !== null && actions.length > 0) parts.push(`scope="repository:${repo}:${actions.join(',')}"`);
    if (error !== undefined) parts.push(`error="${error}"`);
    return { 'WWW-Authenticate': `Bearer ${parts.join(',')}` };
  };
  return async (req, repo, actions): Promise<Principal> => {
    const { kind, identity, scoped } = await readCredentials(req, access);
    if (identity === null) {
      const message =
        kind === 'none'
          ? 'Cannot authorize request: authentication required'
          : 'Cannot authorize request: the credentials are invalid, expired or revoked';
      throw new RegistryError('UNAUTHORIZED', message, { headers: challenge(req, repo, actions) });
    }
    const missing = repo === null ? [] : actions.filter((a) => !identity.allows(repo, a as RepositoryAction));
    if (missing.length > 0) {
      const first = missing[0] as RepositoryAction;
      const message =
        identity.refusal(`registry.${first}`, { repository: repo as string }) ??
        `Cannot ${first} "${repo}": not allowed`;
      // Token-flow clients answer a 401 by fetching a token with the named scope; others need a plain 403.
      if (scoped || (identity.kind === 'anonymous' && kind === 'none')) {
        throw new RegistryError('UNAUTHORIZED', message, {
          headers: challenge(req, repo, actions, scoped ? 'insufficient_scope' : undefined),
        });
      }
      throw new RegistryError('DENIED', message, { detail: { repository: repo, missing } });
    }
    return { actor: identity.actor, can: (r, a) => identity.allows(r, a) };
  };
}
