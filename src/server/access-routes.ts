import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Access, AccessError, isScope, type Scope } from '../access/index.ts';
import type { Clock } from '../core/index.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface AccessRouteDeps {
  access: Access;
  gate: Gatekeeper;
  clock: Clock;
}

const MAX_TTL_SECONDS = 100 * 365 * 86_400;
const v1 = (kind: string, body: object) => ({ apiVersion: 'fixity.dev/v1', kind, ...body });

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new APIError('INVALID_REQUEST', `Cannot ${what}: ${issue?.path.join('.') || 'body'}: ${issue?.message}`);
  }
  return parsed.data;
}

const Patterns = z.array(z.string().min(1).max(255)).min(1).max(32);
const RoleGrant = z.object({
  role: z.string().min(1).max(32),
  stages: Patterns.optional(),
  repos: Patterns.optional(),
});
const TokenBody = z.object({
  name: z.string({ error: 'name is required' }),
  principal: z.string().min(1).max(64).optional(),
  scopes: z.array(z.string()).default([]),
  repos: z.array(z.string()).default(['**']),
  expiresInSeconds: z.number().positive().max(MAX_TTL_SECONDS).optional(),
});
const UserBody = z.object({
  name: z.string(),
  kind: z.enum(['user', 'service']).default('user'),
  roles: z.array(RoleGrant).max(64).default([]),
});
/** Query values Fastify gives as a string or, repeated, an array. */
const listOf = (value: string | string[] | undefined) =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** Tokens and principals under /api/v1: /tokens (self-service and admin) and /users (admin). */
export async function accessRoutes(app: FastifyInstance, deps: AccessRouteDeps): Promise<void> {
  const { access, gate, clock } = deps;

  app.get<{ Querystring: { principal?: string } }>('/tokens', async (req) => {
    const caller = await gate.identify(req);
    const filter = req.query.principal === undefined ? {} : { principal: req.query.principal };
    return v1('TokenList', { items: await access.listTokensFor(caller, filter) });
  });

  app.post('/tokens', async (req, reply) => {
    const caller = await gate.identify(req);
    const body = parse(TokenBody, req.body, 'create token');
    if (!body.scopes.every(isScope))
      throw new APIError('INVALID_REQUEST', `Cannot create token: unknown scope in ${JSON.stringify(body.scopes)}`);
    const ttl = body.expiresInSeconds;
    const created = await access.createTokenFor(caller, {
      name: body.name,
      scopes: body.scopes as Scope[],
      repos: body.repos,
      expiresAt: ttl === undefined ? null : new Date(clock.now().getTime() + ttl * 1000),
      ...(body.principal === undefined ? {} : { principal: body.principal }),
    });
    return reply.code(201).send(v1('Token', { ...created.token, secret: created.secret }));
  });

  app.delete<{ Params: { id: string } }>('/tokens/:id', async (req, reply) => {
    const caller = await gate.identify(req);
    if (!(await access.revokeTokenFor(caller, req.params.id))) {
      throw new APIError('NOT_FOUND', `Cannot revoke token "${req.params.id}": no active token of yours has that id`);
    }
    return reply.code(204).send();
  });

  app.get('/users/me', async (req) => {
    const caller = await gate.identify(req);
    return v1('Whoami', {
      principal: caller.principal,
      roles: caller.roles,
      token: caller.token,
      admin: caller.admin,
    });
  });

  app.get('/users', async (req) => {
    await gate.authorize(req, 'users.manage');
    return v1('PrincipalList', { items: await access.principals.list() });
  });

  app.get<{ Params: { name: string } }>('/users/:name', async (req) => {
    const caller = await gate.identify(req);
    if (req.params.name !== caller.principal.name) await gate.authorize(req, 'users.manage');
    const principal = await access.principals.get(req.params.name);
    if (principal === null)
      throw new APIError('NOT_FOUND', `Cannot show "${req.params.name}": no user or service account has that name`);
    return v1('Principal', { principal });
  });

  app.post('/users', async (req, reply) => {
    const caller = await gate.authorize(req, 'users.manage');
    const body = parse(UserBody, req.body, 'create user');
    const principal = await access.principals.create(body, caller.actor);
    return reply.code(201).send(v1('Principal', { principal }));
  });

  app.post<{ Params: { name: string } }>('/users/:name/disable', async (req) => {
    const caller = await gate.authorize(req, 'users.manage');
    return v1('Principal', { principal: await access.principals.disable(req.params.name, caller.actor) });
  });

  app.post<{ Params: { name: string } }>('/users/:name/roles', async (req, reply) => {
    const caller = await gate.authorize(req, 'users.manage');
    const grant = parse(RoleGrant, req.body, 'grant a role');
    const result = await access.principals.grant(req.params.name, grant, caller.actor);
    return reply.code(result.created ? 201 : 200).send(v1('RoleBinding', { principal: req.params.name, ...result }));
  });

  app.delete<{
    Params: { name: string; role: string };
    Querystring: { stage?: string | string[]; repo?: string | string[] };
  }>('/users/:name/roles/:role', async (req) => {
    const caller = await gate.authorize(req, 'users.manage');
    const stages = listOf(req.query.stage);
    const repos = listOf(req.query.repo);
    const revoked = await access.principals.revoke(
      req.params.name,
      { role: req.params.role, ...(stages === undefined ? {} : { stages }), ...(repos === undefined ? {} : { repos }) },
      caller.actor,
    );
    if (revoked.length === 0) {
      throw new AccessError(
        'NOT_FOUND',
        `Cannot revoke ${req.params.role} from "${req.params.name}": it holds no such role${stages || repos ? ' with those scopes' : ''}`,
      );
    }
    return v1('RoleRevocation', { principal: req.params.name, revoked });
  });
}
