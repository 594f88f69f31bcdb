import type { FastifyInstance } from 'fastify';
import { type Access, isScope, type Scope } from '../access/index.ts';
import type { Clock } from '../core/index.ts';
import { collectGarbage } from '../registry/index.ts';
import { type BlobStore, listEvents, type RegistryMetadata, type StoreDatabase } from '../store/index.ts';
import { APIError, renderAPIError } from './api-error.ts';
import { createGatekeeper } from './gatekeeper.ts';

export interface APIDeps {
  access: Access;
  metadata: RegistryMetadata;
  blobs: BlobStore;
  store: StoreDatabase;
  clock: Clock;
  version: string;
  gc: { graceMs: number; uploadExpiryMs: number };
}

/** The JSON API under /api/v1: status, tokens, garbage collection, events. */
export async function apiRoutes(app: FastifyInstance, deps: APIDeps): Promise<void> {
  app.setErrorHandler(renderAPIError);
  const started = deps.clock.now();

  const { identify, admin } = createGatekeeper(deps.access);

  app.get('/status', async (req) => {
    await identify(req);
    return {
      apiVersion: 'fixity.dev/v1',
      kind: 'Status',
      version: deps.version,
      database: deps.store.dialect,
      startedAt: started.toISOString(),
      registry: await deps.metadata.counts(),
    };
  });

  app.get('/tokens', async (req) => {
    await admin(req);
    return { apiVersion: 'fixity.dev/v1', kind: 'TokenList', items: await deps.access.listTokens() };
  });

  app.post('/tokens', async (req, reply) => {
    const identity = await admin(req);
    const body = (req.body ?? {}) as { name?: unknown; scopes?: unknown; repos?: unknown; expiresInSeconds?: unknown };
    const scopes = Array.isArray(body.scopes) ? body.scopes.filter((s): s is string => typeof s === 'string') : [];
    if (typeof body.name !== 'string') throw new APIError('INVALID_REQUEST', 'Cannot create token: name is required');
    if (!scopes.every(isScope))
      throw new APIError('INVALID_REQUEST', `Cannot create token: unknown scope in ${JSON.stringify(scopes)}`);
    const repos = Array.isArray(body.repos) ? body.repos.filter((r): r is string => typeof r === 'string') : ['**'];
    const ttl = typeof body.expiresInSeconds === 'number' && body.expiresInSeconds > 0 ? body.expiresInSeconds : null;
    const created = await deps.access.createToken(
      {
        name: body.name,
        scopes: scopes as Scope[],
        repos,
        expiresAt: ttl === null ? null : new Date(deps.clock.now().getTime() + ttl * 1000),
      },
      identity.actor,
    );
    return reply
      .code(201)
      .send({ apiVersion: 'fixity.dev/v1', kind: 'Token', ...created.token, secret: created.secret });
  });

  app.delete<{ Params: { id: string } }>('/tokens/:id', async (req, reply) => {
    const identity = await admin(req);
    if (!(await deps.access.revokeToken(req.params.id, identity.actor))) {
      throw new APIError('NOT_FOUND', `Cannot revoke token "${req.params.id}": no active token has that id`);
    }
    return reply.code(204).send();
  });

  app.post('/gc', async (req) => {
    await admin(req);
    const body = (req.body ?? {}) as { dryRun?: unknown; graceSeconds?: unknown };
    const graceMs =
      typeof body.graceSeconds === 'number' && body.graceSeconds >= 0 ? body.graceSeconds * 1000 : deps.gc.graceMs;
    const steps = await collectGarbage({
      metadata: deps.metadata,
      blobs: deps.blobs,
      clock: deps.clock,
      graceMs,
      uploadExpiryMs: deps.gc.uploadExpiryMs,
      dryRun: body.dryRun === true,
    });
    return {
      apiVersion: 'fixity.dev/v1',
      kind: 'GarbageCollection',
      dryRun: body.dryRun === true,
      graceSeconds: graceMs / 1000,
      steps,
    };
  });

  app.get<{ Querystring: { after?: string; limit?: string } }>('/events', async (req) => {
    await admin(req);
    const after = Number(req.query.after ?? 0);
    const limit = Math.min(Number(req.query.limit ?? 1000), 10_000);
    if (!Number.isInteger(after) || !Number.isInteger(limit) || after < 0 || limit < 1) {
      throw new APIError('INVALID_REQUEST', 'Cannot list events: after and limit must be non-negative integers');
    }
    return { apiVersion: 'fixity.dev/v1', kind: 'EventList', items: await listEvents(deps.store.db, { after, limit }) };
  });
}
