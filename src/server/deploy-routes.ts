import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DeployError, type DeployService, parseEnvironment } from '../deploy/index.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface DeployRouteDeps {
  deploy: DeployService;
  gate: Gatekeeper;
}

/** Deploy errors as API errors: unknown things 404, policy refusals 422, races 409, the rest 400. */
function rethrow(err: unknown): never {
  if (err instanceof DeployError) {
    const code =
      err.code === 'ENV_UNKNOWN' ||
      err.code === 'SERVICE_UNKNOWN' ||
      err.code === 'ROLLOUT_UNKNOWN' ||
      err.code === 'NO_PREVIOUS_RELEASE'
        ? 'NOT_FOUND'
        : err.code === 'VETOED' || err.code === 'NOT_PROMOTED'
          ? 'REFUSED'
          : err.code === 'ROLLOUT_CONFLICT' ||
              err.code === 'ROLLOUT_IN_PROGRESS' ||
              err.code === 'LEASE_LOST' ||
              err.code === 'ENV_DELETING'
            ? 'CONFLICT'
            : 'INVALID_REQUEST';
    throw new APIError(code, err.message);
  }
  throw err;
}

const Command = z.object({ command: z.enum(['pause', 'resume', 'abort', 'promote']) });

/**
 * Environments and rollouts under /api/v1. Applying or deleting an environment needs `pipeline.apply` on
 * its stage; deploying, rollout commands and rollback need `deploy` on the stage and the service's
 * repository.
 */
export async function deployRoutes(app: FastifyInstance, deps: DeployRouteDeps): Promise<void> {
  const { deploy, gate } = deps;
  const envOf = (name: string) => deploy.environment(name).catch(rethrow);
  const repositoryOf = (env: Awaited<ReturnType<typeof envOf>>, service: string) =>
    env.spec.services.find((s) => s.name === service)?.image.repository;

  app.get('/environments', async (req) => {
    await gate.authorize(req, 'audit.read');
    const items = (await deploy.environments()).map(({ yaml: _y, ...e }) => e);
    return { apiVersion: 'fixity.dev/v1', kind: 'EnvironmentList', items };
  });

  app.put('/environments', async (req) => {
    const yaml = typeof req.body === 'string' ? req.body : (req.body as { yaml?: unknown } | null)?.yaml;
    if (typeof yaml !== 'string')
      throw new APIError('INVALID_REQUEST', 'Cannot apply the environment: send {"yaml": "…"}');
    let stage: string;
    try {
      stage = parseEnvironment(yaml).stage;
    } catch (err) {
      rethrow(err);
    }
    const identity = await gate.authorize(req, 'pipeline.apply', { stage });
    const applied = await deploy.applyEnvironment(yaml, identity.actor).catch(rethrow);
    return { apiVersion: 'fixity.dev/v1', kind: 'EnvironmentVersion', ...applied };
  });

  app.get<{ Params: { env: string } }>('/environments/:env', async (req) => {
    await gate.authorize(req, 'audit.read');
    return { apiVersion: 'fixity.dev/v1', kind: 'Environment', ...(await envOf(req.params.env)) };
  });

  // Deleting stops every service, as applying it with `services: []` would, so it asks what applying does.
  app.delete<{ Params: { env: string }; Querystring: { force?: string } }>('/environments/:env', async (req) => {
    const { force } = req.query;
    if (force !== undefined && force !== 'true' && force !== 'false')
      throw new APIError('INVALID_REQUEST', 'Cannot delete the environment: force must be true or false');
    // Who asks comes first, so a caller without a token does not learn which environments exist.
    await gate.identify(req);
    const env = await deploy.environment(req.params.env, `delete ${req.params.env}`).catch(rethrow);
    const identity = await gate.authorize(req, 'pipeline.apply', { stage: env.spec.stage });
    const deleted = await deploy
      .deleteEnvironment({ environment: env.name, actor: identity.actor, force: force === 'true' })
      .catch(rethrow);
    return { apiVersion: 'fixity.dev/v1', kind: 'EnvironmentDeletion', ...deleted };
  });

  app.post<{ Params: { env: string } }>('/environments/:env/deployments', async (req, reply) => {
    const { service, dryRun } = (req.body ?? {}) as { service?: unknown; dryRun?: unknown };
    if (service !== undefined && typeof service !== 'string')
      throw new APIError('INVALID_REQUEST', 'Cannot deploy: "service" must be a service name');
    if (dryRun !== undefined && typeof dryRun !== 'boolean')
      throw new APIError('INVALID_REQUEST', 'Cannot deploy: "dryRun" must be true or false');
    const env = await envOf(req.params.env);
    const names = service === undefined ? env.spec.services.map((s) => s.name) : [service];
    let actor = '';
    for (const name of names) {
      const repository = repositoryOf(env, name);
      const identity = await gate.authorize(req, 'deploy', {
        stage: env.spec.stage,
        ...(repository === undefined ? {} : { repository }),
      });
      actor = identity.actor;
    }
    // A dry run is authorized as the deploy itself would be, as Kubernetes does.
    if (dryRun === true) {
      const items = await deploy
        .planDeploy({ environment: env.name, ...(service === undefined ? {} : { service }) })
        .catch(rethrow);
      return { apiVersion: 'fixity.dev/v1', kind: 'DeployPlan', items };
    }
    const items = await deploy
      .deploy({ environment: env.name, ...(service === undefined ? {} : { service }), actor })
      .catch(rethrow);
    return reply.code(items.some((i) => i.result === 'started') ? 201 : 200).send({
      apiVersion: 'fixity.dev/v1',
      kind: 'DeployOutcomeList',
      items,
    });
  });

  app.get<{ Params: { env: string }; Querystring: { service?: string } }>('/environments/:env/status', async (req) => {
    await gate.authorize(req, 'audit.read');
    const status = await deploy.status(req.params.env, req.query.service).catch(rethrow);
    return { apiVersion: 'fixity.dev/v1', kind: 'EnvironmentStatus', ...status };
  });

  app.get<{ Params: { id: string } }>('/rollouts/:id', async (req) => {
    await gate.authorize(req, 'audit.read');
    const rollout = await deploy.rollout(req.params.id).catch(rethrow);
    return { apiVersion: 'fixity.dev/v1', kind: 'Rollout', ...rollout };
  });

  app.post<{ Params: { env: string; service: string } }>(
    '/environments/:env/services/:service/rollout',
    async (req) => {
      const parsed = Command.safeParse(req.body);
      if (!parsed.success)
        throw new APIError(
          'INVALID_REQUEST',
          'Cannot change the rollout: send {"command": "pause|resume|abort|promote"}',
        );
      const env = await envOf(req.params.env);
      const repository = repositoryOf(env, req.params.service);
      const identity = await gate.authorize(req, 'deploy', {
        stage: env.spec.stage,
        ...(repository === undefined ? {} : { repository }),
      });
      const done = await deploy
        .command({
          environment: env.name,
          service: req.params.service,
          command: parsed.data.command,
          actor: identity.actor,
        })
        .catch(rethrow);
      return { apiVersion: 'fixity.dev/v1', kind: 'RolloutCommand', ...done };
    },
  );

  app.post<{ Params: { env: string; service: string } }>(
    '/environments/:env/services/:service/rollback',
    async (req) => {
      const env = await envOf(req.params.env);
      const repository = repositoryOf(env, req.params.service);
      const resource = { stage: env.spec.stage, ...(repository === undefined ? {} : { repository }) };
      await gate.authorize(req, 'hold', { stage: env.spec.stage });
      const identity = await gate.authorize(req, 'deploy', resource);
      const reason = (req.body as { reason?: unknown } | null)?.reason;
      const done = await deploy
        .rollback({
          environment: env.name,
          service: req.params.service,
          actor: identity.actor,
          ...(typeof reason === 'string' && reason !== '' ? { reason } : {}),
        })
        .catch(rethrow);
      return { apiVersion: 'fixity.dev/v1', kind: 'Rollback', ...done };
    },
  );

  // ?live=false: only what was recorded, without checking every instance now (the dashboard polls this).
  app.get<{ Params: { env: string }; Querystring: { live?: string } }>('/environments/:env/drift', async (req) => {
    await gate.authorize(req, 'audit.read');
    const live = req.query.live !== 'false';
    return {
      apiVersion: 'fixity.dev/v1',
      kind: 'DriftReport',
      ...(await deploy.drift(req.params.env, { live }).catch(rethrow)),
    };
  });
}
