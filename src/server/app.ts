import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Access } from '../access/index.ts';
import type { Clock } from '../core/index.ts';
import { registryRoutes } from '../registry/index.ts';
import type { BlobStore, RegistryMetadata, StoreDatabase } from '../store/index.ts';
import { apiRoutes } from './api-routes.ts';
import { createRegistryAuthorizer } from './auth.ts';
import { LANDING_PAGE } from './landing-page.ts';
import { installMetrics } from './metrics.ts';
import { tokenEndpoint } from './token-endpoint.ts';

export interface AppDeps {
  store: StoreDatabase;
  metadata: RegistryMetadata;
  blobs: BlobStore;
  access: Access;
  clock: Clock;
  logger: Logger;
  version: string;
  maxManifestBytes: number;
  gc: { graceMs: number; uploadExpiryMs: number };
  /** Public base URL used in token challenges; derived from Host when absent. */
  publicUrl?: string;
}

/** Builds the HTTP app (registry, token flow, JSON API, metrics, health) without listening. */
export async function createApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request info lines would cost more than a manifest GET; /metrics counts requests instead.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 4096 },
    bodyLimit: 1024 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    keepAliveTimeout: 65_000,
  });
  const metrics = installMetrics(app, {
    blobStore: async () => {
      const c = await deps.metadata.counts();
      return { blobs: c.blobs, bytes: c.blobBytes };
    },
    uploadsInProgress: async () => {
      let n = 0;
      for await (const _ of deps.blobs.uploads.list()) n++;
      return n;
    },
  });
  const authorize = createRegistryAuthorizer(deps.access, {
    service: 'fixity',
    ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
  });

  await app.register(registryRoutes, {
    metadata: deps.metadata,
    blobs: deps.blobs,
    authorize,
    maxManifestBytes: deps.maxManifestBytes,
  });
  await app.register(tokenEndpoint, { access: deps.access });
  await app.register(apiRoutes, {
    prefix: '/api/v1',
    access: deps.access,
    metadata: deps.metadata,
    blobs: deps.blobs,
    store: deps.store,
    clock: deps.clock,
    version: deps.version,
    gc: deps.gc,
  });
  app.get('/healthz', async (_req, reply) => {
    try {
      await deps.metadata.listRepositories({ n: 1 });
      return { status: 'ok' };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', error: String(err) });
    }
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(LANDING_PAGE));
  return app;
}
