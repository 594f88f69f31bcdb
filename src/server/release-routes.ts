import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Digest, isDigest } from '../core/index.ts';
import { ReleaseError, type ReleaseService } from '../release/index.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface ReleaseRouteDeps {
  release: ReleaseService;
  gate: Gatekeeper;
  /** Wakes auto-promotion after anything that may unblock it (a promotion, an approval, an unhold). */
  onChange?: () => void;
}

/** Release errors as API errors: unknown things are 404, refusals 403, the rest the caller's to fix. */
function rethrow(err: unknown): never {
  if (err instanceof ReleaseError) {
    const code =
      err.code === 'STAGE_UNKNOWN' ||
      err.code === 'ARTIFACT_UNKNOWN' ||
      err.code === 'PIPELINE_UNSET' ||
      err.code === 'NOT_VETOED' ||
      err.code === 'NOT_HELD'
        ? 'NOT_FOUND'
        : err.code === 'ADMIN_REQUIRED' || err.code === 'APPROVAL_REFUSED'
          ? 'FORBIDDEN'
          : 'INVALID_REQUEST';
    throw new APIError(code, err.message);
  }
  throw err;
}

const Target = z.object({
  repository: z.string().min(1).max(255),
  digest: z.string().refine(isDigest, 'an OCI digest'),
});

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new APIError('INVALID_REQUEST', `Cannot ${what}: ${issue?.path.join('.') || 'body'}: ${issue?.message}`);
  }
  return parsed.data;
}

/**
 * Promotion under /api/v1: the pipeline (versioned YAML), promote, status, approvals, veto and holds.
 * Every action is authorised here, on the server, with the caller's principal and roles.
 */
export async function releaseRoutes(app: FastifyInstance, deps: ReleaseRouteDeps): Promise<void> {
  const { release, gate } = deps;
  const changed = () => deps.onChange?.();
  app.get('/pipeline', async (req) => {
    await gate.authorize(req, 'audit.read');
    const current = await release.pipeline();
    if (current === null)
      throw new APIError('NOT_FOUND', 'Cannot show the pipeline: none applied yet (fixity pipeline apply FILE)');
    return { apiVersion: 'fixity.dev/v1', kind: 'Pipeline', ...current };
  });

  app.put('/pipeline', async (req) => {
    const identity = await gate.authorize(req, 'pipeline.apply');
    const yaml = typeof req.body === 'string' ? req.body : (req.body as { yaml?: unknown } | null)?.yaml;
    if (typeof yaml !== 'string')
      throw new APIError('INVALID_REQUEST', 'Cannot apply the pipeline: send {"yaml": "…"}');
    const applied = await release
      .applyPipeline(yaml, { actor: identity.actor, admin: identity.can('pipeline.auto') })
      .catch(rethrow);
    changed();
    return { apiVersion: 'fixity.dev/v1', kind: 'PipelineVersion', ...applied };
  });

  app.post('/promotions', async (req, reply) => {
    const { dryRun, ...body } = parse(
      Target.extend({
        stage: z.string().min(1),
        dryRun: z.boolean().default(false),
        reason: z.string().max(2000).optional(),
      }),
      req.body,
      'promote',
    );
    // A dry run is authorized as the promotion itself would be, as Kubernetes does: it shows the same gates.
    const identity = await gate.authorize(req, 'promote', { repository: body.repository, stage: body.stage });
    if (dryRun) {
      const { kind: result, ...rest } = await release
        .planPromotion({ ...body, digest: body.digest as Digest, actor: identity.actor, trigger: 'manual' })
        .catch(rethrow);
      return { apiVersion: 'fixity.dev/v1', kind: 'PromotionPlan', result, ...rest };
    }
    const outcome = await release
      .promote({ ...body, digest: body.digest as Digest, actor: identity.actor, trigger: 'manual' })
      .catch(rethrow);
    if (outcome.kind === 'promoted' || outcome.kind === 'incomplete') changed();
    const status = outcome.kind === 'refused' ? 422 : outcome.kind === 'conflict' ? 409 : 201;
    const { kind: result, ...rest } = outcome;
    return reply.code(status).send({ apiVersion: 'fixity.dev/v1', kind: 'PromotionOutcome', result, ...rest });
  });

  app.get<{ Querystring: { stage?: string; digest?: string } }>('/promotions', async (req) => {
    await gate.authorize(req, 'audit.read');
    const { stage, digest } = req.query;
    if (digest !== undefined && !isDigest(digest))
      throw new APIError('INVALID_REQUEST', 'Cannot list promotions: digest must be an OCI digest');
    const items = await release.promotions({
      ...(stage === undefined ? {} : { stage }),
      ...(digest === undefined ? {} : { digest: digest as Digest }),
    });
    return { apiVersion: 'fixity.dev/v1', kind: 'PromotionList', items };
  });

  app.get<{ Params: { digest: string }; Querystring: { repository?: string } }>('/status/:digest', async (req) => {
    const { digest } = req.params;
    const repository = req.query.repository;
    if (!isDigest(digest) || repository === undefined)
      throw new APIError('INVALID_REQUEST', 'Cannot show status: give a digest and ?repository=');
    const identity = await gate.authorize(req, 'registry.pull', { repository });
    const status = await release.status(repository, digest, { actor: identity.actor }).catch(rethrow);
    return { apiVersion: 'fixity.dev/v1', kind: 'ReleaseStatus', ...status };
  });

  app.post('/approvals', async (req, reply) => {
    const body = parse(
      Target.extend({ stage: z.string().min(1), comment: z.string().max(2000).default('') }),
      req.body,
      'approve',
    );
    const identity = await gate.authorize(req, 'approve', { repository: body.repository, stage: body.stage });
    const approval = await release
      .approve({ ...body, digest: body.digest as Digest, actor: identity.actor })
      .catch(rethrow);
    changed();
    return reply.code(201).send({ apiVersion: 'fixity.dev/v1', kind: 'Approval', ...approval });
  });

  app.post('/vetoes', async (req, reply) => {
    const body = parse(
      z.object({
        digest: z.string().refine(isDigest, 'an OCI digest'),
        reason: z.string().min(1).max(2000),
        repository: z.string().min(1).max(255).optional(),
      }),
      req.body,
      'veto',
    );
    const identity = await gate.authorize(
      req,
      'veto',
      body.repository === undefined ? {} : { repository: body.repository },
    );
    const veto = await release
      .veto({ digest: body.digest as Digest, reason: body.reason, actor: identity.actor })
      .catch(rethrow);
    return reply.code(201).send({ apiVersion: 'fixity.dev/v1', kind: 'Veto', ...veto });
  });

  app.delete<{ Params: { digest: string } }>('/vetoes/:digest', async (req) => {
    if (!isDigest(req.params.digest)) throw new APIError('INVALID_REQUEST', 'Cannot lift a veto: not a digest');
    const identity = await gate.authorize(req, 'veto.lift');
    const lifted = await release
      .liftVeto({ digest: req.params.digest as Digest, actor: identity.actor, admin: identity.can('veto.lift') })
      .catch(rethrow);
    changed();
    return { apiVersion: 'fixity.dev/v1', kind: 'VetoLifted', ...lifted };
  });

  app.get('/holds', async (req) => {
    await gate.authorize(req, 'audit.read');
    return { apiVersion: 'fixity.dev/v1', kind: 'HoldList', items: await release.holds() };
  });

  app.put<{ Params: { stage: string } }>('/holds/:stage', async (req) => {
    const reason = (req.body as { reason?: unknown } | null)?.reason;
    const identity = await gate.authorize(req, 'hold', { stage: req.params.stage });
    const hold = await release
      .hold({ stage: req.params.stage, actor: identity.actor, reason: typeof reason === 'string' ? reason : '' })
      .catch(rethrow);
    return { apiVersion: 'fixity.dev/v1', kind: 'Hold', ...hold };
  });

  app.delete<{ Params: { stage: string } }>('/holds/:stage', async (req) => {
    const identity = await gate.authorize(req, 'hold', { stage: req.params.stage });
    const released = await release.unhold({ stage: req.params.stage, actor: identity.actor }).catch(rethrow);
    changed();
    return { apiVersion: 'fixity.dev/v1', kind: 'HoldReleased', ...released };
  });
}
