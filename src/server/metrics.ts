import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSources {
  /** Blob store totals, read at scrape time. */
  blobStore(): Promise<{ blobs: number; bytes: number }>;
  uploadsInProgress(): Promise<number>;
}

// Registry routes are labelled by endpoint kind, never by repository name, so label cardinality stays fixed.
const V2_KIND: Array<[RegExp, string]> = [
  [/^\/v2\/?$/, 'base'],
  [/^\/v2\/_catalog$/, 'catalog'],
  [/\/blobs\/uploads\/?$/, 'uploads'],
  [/\/blobs\/uploads\/[^/]+$/, 'upload'],
  [/\/blobs\/[^/]+$/, 'blob'],
  [/\/manifests\/[^/]+$/, 'manifest'],
  [/\/tags\/list$/, 'tags'],
  [/\/referrers\/[^/]+$/, 'referrers'],
];

function routeLabel(url: string, routeUrl: string | undefined): string {
  if (url.startsWith('/v2')) {
    const path = url.split('?')[0]!;
    for (const [re, kind] of V2_KIND) if (re.test(path)) return `v2:${kind}`;
    return 'v2:unknown';
  }
  return routeUrl ?? 'unmatched';
}

/** Prometheus metrics: requests by route and status, latency, bytes in/out, blob store size, uploads. */
export function installMetrics(app: FastifyInstance, sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fixity_process_' });
  const requests = new Counter({
    name: 'fixity_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'fixity_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const bytesIn = new Counter({
    name: 'fixity_http_request_bytes_total',
    help: 'Request body bytes received',
    labelNames: ['route'],
    registers: [registry],
  });
  const bytesOut = new Counter({
    name: 'fixity_http_response_bytes_total',
    help: 'Response body bytes sent',
    labelNames: ['route'],
    registers: [registry],
  });
  new Gauge({
    name: 'fixity_blob_store_bytes',
    help: 'Bytes held in the blob store',
    registers: [registry],
    async collect() {
      this.set((await sources.blobStore()).bytes);
    },
  });
  new Gauge({
    name: 'fixity_blob_store_blobs',
    help: 'Blobs held in the blob store',
    registers: [registry],
    async collect() {
      this.set((await sources.blobStore()).blobs);
    },
  });
  new Gauge({
    name: 'fixity_uploads_in_progress',
    help: 'Blob upload sessions open',
    registers: [registry],
    async collect() {
      this.set(await sources.uploadsInProgress());
    },
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = routeLabel(req.url, req.routeOptions.url);
    const method = req.method;
    requests.inc({ route, method, status: String(reply.statusCode) });
    latency.observe({ route, method }, reply.elapsedTime / 1000);
    const inLength = Number(req.headers['content-length'] ?? 0);
    if (inLength > 0) bytesIn.inc({ route }, inLength);
    const outLength = Number(reply.getHeader('content-length') ?? 0);
    if (outLength > 0 && method !== 'HEAD') bytesOut.inc({ route }, outLength);
  });
  return registry;
}
