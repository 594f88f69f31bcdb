import type { FastifyInstance } from 'fastify';
import type { Access } from '../access/index.ts';
import type { Clock } from '../core/index.ts';
import { collectGarbage } from '../registry/index.ts';
import { type BlobStore, listEvents, type RegistryMetadata, type StoreDatabase } from '../store/index.ts';
import { accessRoutes } from './access-routes.ts';
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

/** The JSON API under /api/v1: status, tokens and users, garbage collection, events. */
export async function apiRoutes(app: FastifyInstance, deps: APIDeps): Promise<void> {
  app.setErrorHandler(renderAPIError);
  const started = deps.clock.now();

  const gate = createGatekeeper(deps.access);
  const { identify, admin } = gate;

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

  await accessRoutes(app, { access: deps.access, gate, clock: deps.clock });

  // What a digest prefix names (CLI style rule 2): the images it matches that this caller may pull; without
  // a prefix, the images pushed last (what completion offers).
  app.get<{ Querystring: { prefix?: string } }>('/manifests', async (req) => {
    const identity = await identify(req);
    const raw = req.query.prefix ?? '';
    const prefix = raw === '' ? null : raw.startsWith('sha256:') ? raw : `sha256:${raw}`;
    if (prefix !== null && !/^sha256:[0-9a-f]{4,64}$/.test(prefix))
      throw new APIError('INVALID_REQUEST', 'Cannot look up digests: ?prefix= takes 4 to 64 lowercase hex digits');
    const found = await deps.metadata.findManifests(prefix, 50);
    const items = found.filter((m) => identity.refusal('registry.pull', { repository: m.repository }) === null);
    return { apiVersion: 'fixity.dev/v1', kind: 'ManifestList', items: items.slice(0, 20) };
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
