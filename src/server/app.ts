import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Access } from '../access/index.ts';
import type { Clock, Signer } from '../core/index.ts';
import type { DeployService } from '../deploy/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { registryRoutes } from '../registry/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { BlobStore, RegistryMetadata, StoreDatabase } from '../store/index.ts';
import type { TrustStore } from '../trust/index.ts';
import { renderAPIError } from './api-error.ts';
import { apiRoutes } from './api-routes.ts';
import { auditRoutes } from './audit-routes.ts';
import { createRegistryAuthorizer } from './auth.ts';
import { DASHBOARD } from './dashboard-page.ts';
import { deployRoutes } from './deploy-routes.ts';
import { createGatekeeper } from './gatekeeper.ts';
import { keyRoutes } from './key-routes.ts';
import { ledgerRoutes } from './ledger-routes.ts';
import { installMetrics } from './metrics.ts';
import { releaseRoutes } from './release-routes.ts';
import { signatureRoutes } from './signature-routes.ts';
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
  ledger: Ledger;
  /** Signs checkpoints and signed entry timestamps. */
  ledgerSigner: Signer;
  ledgerOrigin: string;
  ledgerPublicKeyPem: string;
  trust: TrustStore;
  release: ReleaseService;
  /** Called after a promotion, approval, pipeline change or unhold: auto-promotion may now proceed. */
  onReleaseChange?: () => void;
  /** Called after every registry write, so its events reach the ledger without waiting for a timer. */
  onRegistryChange?: () => void;
  /** Public base URL used in token challenges; derived from Host when absent. */
  publicUrl?: string;
  /** Environments and rollouts; absent when the server runs without a runtime. */
  deploy?: DeployService;
  /** Further metrics shown on /metrics (the routers' per-release counts and latencies). */
  extraMetrics?: Registry;
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
  const onRegistryChange = deps.onRegistryChange;
  if (onRegistryChange !== undefined) {
    // Only manifest writes and deletes append events; blob uploads (most registry writes) change nothing
    // the ledger feeder or auto-promotion could act on, so they do not wake them.
    app.addHook('onResponse', async (req, reply) => {
      if (
        reply.statusCode < 300 &&
        (req.method === 'PUT' || req.method === 'DELETE') &&
        req.url.startsWith('/v2/') &&
        (req.method === 'DELETE' || req.url.includes('/manifests/'))
      )
        onRegistryChange();
    });
  }
  await app.register(tokenEndpoint, { access: deps.access });
  const gate = createGatekeeper(deps.access);
  await app.register(
    async (api) => {
      api.setErrorHandler(renderAPIError);
      await ledgerRoutes(api, {
        ledger: deps.ledger,
        gate,
        publicKeyPem: deps.ledgerPublicKeyPem,
        logId: deps.ledgerSigner.keyId,
        origin: deps.ledgerOrigin,
      });
      await signatureRoutes(api, {
        ledger: deps.ledger,
        ledgerSigner: deps.ledgerSigner,
        trust: deps.trust,
        gate,
        clock: deps.clock,
      });
      await keyRoutes(api, { trust: deps.trust, ledger: deps.ledger, gate, clock: deps.clock });
      await releaseRoutes(api, {
        release: deps.release,
        gate,
        ...(deps.onReleaseChange === undefined ? {} : { onChange: deps.onReleaseChange }),
      });
      if (deps.deploy !== undefined) await deployRoutes(api, { deploy: deps.deploy, gate });
      await auditRoutes(api, {
        ledger: deps.ledger,
        gate,
        clock: deps.clock,
        key: { publicKey: deps.ledgerSigner.publicKey, origin: deps.ledgerOrigin },
      });
    },
    { prefix: '/api/v1' },
  );
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
  app.get('/metrics', async (_req, reply) => {
    const extra = deps.extraMetrics === undefined ? '' : await deps.extraMetrics.metrics();
    return reply.type(metrics.contentType).send(`${await metrics.metrics()}${extra}`);
  });
  app.get('/', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', DASHBOARD.csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .send(DASHBOARD.html),
  );
  return app;
}
