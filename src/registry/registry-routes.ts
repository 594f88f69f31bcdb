import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { handleBlob } from './blob-handlers.ts';
import type { RegistryOptions, RequestContext } from './context.ts';
import { handleCatalog, handleReferrers, handleTags } from './discovery-handlers.ts';
import { hasBody, sendEmpty } from './http.ts';
import { handleManifest } from './manifest-handlers.ts';
import { matchRoute } from './names.ts';
import { REGISTRY_STATUS, RegistryError, toRegistryError } from './registry-error.ts';
import { handleUpload, handleUploadStart } from './upload-handlers.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * Mounts the OCI Distribution v1.1 API under /v2/. Bodies are left unread for the handlers, which stream
 * blobs straight to disk; every error renders as the spec's `{"errors":[{code,message,detail}]}` body.
 */
export async function registryRoutes(app: FastifyInstance, deps: RegistryOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  app.setErrorHandler((err: FastifyError, req, reply) => renderError(err, req, reply));
  const handler = (req: FastifyRequest, reply: FastifyReply) => dispatch(req, reply, deps);
  app.route({ method: [...METHODS], url: '/v2', handler, exposeHeadRoute: false });
  app.route({ method: [...METHODS], url: '/v2/*', handler, exposeHeadRoute: false });
}

async function dispatch(req: FastifyRequest, reply: FastifyReply, deps: RegistryOptions): Promise<unknown> {
  reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  const raw = req.raw.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const ctx: RequestContext = {
    req,
    reply,
    method: req.method,
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
  const route = matchRoute(path);
  if (route === null)
    throw new RegistryError(
      'NAME_UNKNOWN',
      `Cannot route ${req.method} ${path.slice(0, 200)}: no such registry endpoint`,
    );
  switch (route.kind) {
    case 'base':
      await deps.authorize(req, null, []);
      return reply.code(200).type('application/json').send('{}');
    case 'catalog':
      return handleCatalog(ctx, deps);
    case 'uploads':
      return handleUploadStart(ctx, deps, route.name);
    case 'upload':
      return handleUpload(ctx, deps, route.name, route.id);
    case 'blob':
      return handleBlob(ctx, deps, route.name, route.digest);
    case 'manifest':
      return handleManifest(ctx, deps, route.name, route.reference);
    case 'tags':
      return handleTags(ctx, deps, route.name);
    case 'referrers':
      return handleReferrers(ctx, deps, route.name, route.digest);
  }
}

function renderError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const known = toRegistryError(err);
  if (known === null) {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'registry request failed');
    return reply
      .code(status)
      .type('application/json')
      .send({
        errors: [
          {
            code: status === 500 ? 'UNKNOWN' : 'UNSUPPORTED',
            message: status === 500 ? 'internal error' : err.message,
          },
        ],
      });
  }
  const { status, wire } = REGISTRY_STATUS[known.code];
  // A client still sending a body we refused would otherwise stall: close the connection instead.
  if (hasBody(req) && !req.raw.readableEnded) reply.header('Connection', 'close');
  reply.headers(known.headers);
  const body = JSON.stringify({
    errors: [{ code: wire, message: known.message, ...(known.detail === undefined ? {} : { detail: known.detail }) }],
  });
  if (req.method === 'HEAD') return sendEmpty(reply, status, { 'Content-Type': 'application/json' });
  return reply.code(status).type('application/json').send(body);
}
