import { randomBytes } from 'node:crypto';
import type { Digest } from '../core/index.ts';
import { deployRecords, type EnvironmentVersion, type RolloutRecord } from './deploy-records.ts';
import type { ServiceSpec } from './environment-spec.ts';
import type { ReconcilerContext } from './reconciler-context.ts';
import type { ReleaseCounts } from './strategy.ts';

/**
 * The reconciler's steps on instances: counting what runs per release, starting or retiring instances to
 * reach a replica count, replacing failed ones and collecting those of releases nobody wants. Instances are
 * replaced, never patched, and each start or stop is recorded as a step.
 */

const LIVE = new Set(['starting', 'ready']);

/** Secret values for an instance's start; only names ever reach logs, steps or the ledger. */
async function secretsFor(
  ctx: Pick<ReconcilerContext, 'resolveSecrets'>,
  refs: ReadonlyArray<{ name: string; ref: string }>,
  context: { environment: string; service: string; release: Digest },
): Promise<Record<string, string>> {
  if (refs.length === 0) return {};
  if (ctx.resolveSecrets === undefined)
    throw new Error(
      `Cannot start: the release needs secrets ${refs.map((r) => r.name).join(', ')} and no secret resolver is configured`,
    );
  return ctx.resolveSecrets(refs, context);
}

/** Instances per release of one service; instances being created count as starting. */
export function counts(
  ctx: Pick<ReconcilerContext, 'routers' | 'creating'>,
  env: string,
  svc: string,
): Record<string, ReleaseCounts> {
  const { routers, creating } = ctx;
  const out: Record<string, ReleaseCounts> = {};
  const add = (release: string, ready: boolean) => {
    const c = out[release] ?? { ready: 0, starting: 0, total: 0 };
    out[release] = c;
    c.total++;
    if (ready) c.ready++;
    else c.starting++;
  };
  for (const i of routers.instancesOf(env, svc))
    if (LIVE.has(i.state) && !routers.isLeaving(i.id)) add(i.release, i.state === 'ready');
  for (const c of creating.values()) if (c.environment === env && c.service === svc) add(c.release, false);
  return out;
}

/** Creates instances of `releaseDigest` up to `want`, and retires the surplus (not-ready ones first). */
export async function scale(
  ctx: ReconcilerContext,
  env: EnvironmentVersion,
  svc: ServiceSpec,
  releaseDigest: Digest,
  want: number,
  rollout: RolloutRecord | null,
): Promise<void> {
  const { db, driver, actions, logger, routers, creating } = ctx;
  const { record, recordInstance } = ctx.steps;
  const live = routers
    .instancesOf(env.name, svc.name)
    .filter((i) => i.release === releaseDigest && LIVE.has(i.state) && !routers.isLeaving(i.id));
  const pending = [...creating.values()].filter(
    (c) => c.environment === env.name && c.service === svc.name && c.release === releaseDigest,
  ).length;
  const have = live.length + pending;
  if (have < want) {
    const rel = await deployRecords.release(db, releaseDigest);
    if (rel === null) return;
    const missing = want - have;
    let key: string;
    try {
      key = await actions.provision(env.spec, { digest: rel.digest, image: rel.image }, missing);
    } catch (err) {
      await db.transaction().execute((trx) =>
        record(trx, rollout, 'provision', 'failed', (err as Error).message, [rel.image, rel.digest], {
          environment: env.name,
          service: svc.name,
        }),
      );
      return;
    }
    const who = { image: rel.image, release: rel.digest, environment: env.name, service: svc.name };
    for (let n = 0; n < missing; n++) {
      const id = `${env.name}-${svc.name}-${releaseDigest.slice(7, 15)}-${randomBytes(3).toString('hex')}`;
      creating.set(id, { environment: env.name, service: svc.name, release: releaseDigest });
      const config = rel.config as {
        env?: Record<string, string>;
        port?: number;
        health?: unknown;
        secrets?: Array<{ name: string; ref: string }>;
      };
      secretsFor(ctx, config.secrets ?? [], { environment: env.name, service: svc.name, release: rel.digest })
        .then((secrets) =>
          driver.start({
            id,
            environment: env.name,
            service: svc.name,
            release: rel.digest,
            image: rel.image,
            configDigest: rel.configDigest,
            env: { ...(config.env ?? {}), ...secrets },
            port: config.port ?? svc.port,
            health: (config.health ?? svc.health) as never,
            provisioningKey: key,
          }),
        )
        .then(
          () => recordInstance(rollout, 'instance.created', 'applied', id, { ...who, id }),
          (err: Error) =>
            recordInstance(rollout, 'instance.created', 'failed', `${id}: ${err.message}`, { ...who, id }),
        )
        .catch((err) => logger?.error({ err }, 'recording an instance failed'))
        .finally(() => {
          creating.delete(id);
          ctx.wake();
        });
    }
  } else if (live.length > want) {
    const order = [...live].sort(
      (a, b) => Number(a.state === 'ready') - Number(b.state === 'ready') || b.startedAt.localeCompare(a.startedAt),
    );
    for (const inst of order.slice(0, live.length - want)) {
      await routers.retire(env.name, svc.name, inst, 'scaled down');
      await recordInstance(rollout, 'instance.stopped', 'applied', inst.id, inst);
    }
  }
}

/** Replaces, never patches: an instance that failed its health checks or exited is stopped and recreated. */
export async function replaceFailed(
  ctx: Pick<ReconcilerContext, 'routers' | 'steps'>,
  env: EnvironmentVersion,
  svc: ServiceSpec,
  rollout: RolloutRecord | null,
) {
  const { routers, steps } = ctx;
  for (const inst of routers.instancesOf(env.name, svc.name)) {
    if (inst.state !== 'unhealthy' || routers.isLeaving(inst.id)) continue;
    await routers.retire(env.name, svc.name, inst, inst.reason ?? 'unhealthy');
    await steps.recordInstance(
      rollout,
      'instance.replaced',
      'applied',
      `${inst.id}: ${inst.reason ?? 'unhealthy'}`,
      inst,
    );
  }
}

/** Without a rollout: the serving release at its replica count, 100% of traffic, nothing else running. */
export async function steady(
  ctx: ReconcilerContext,
  env: EnvironmentVersion,
  svc: ServiceSpec,
  serving: Digest | null,
) {
  if (serving !== null) await scale(ctx, env, svc, serving, svc.replicas, null);
  await ctx.routers.sync(env.name, svc.name, serving === null ? {} : { [serving]: 100 });
}

/** Retires instances of releases nobody wants any more (after a rollout finished or was rolled back). */
export async function collect(
  ctx: Pick<ReconcilerContext, 'routers' | 'steps'>,
  env: EnvironmentVersion,
  svc: ServiceSpec,
  wanted: ReadonlySet<string>,
) {
  const { routers, steps } = ctx;
  for (const inst of routers.instancesOf(env.name, svc.name)) {
    if (!LIVE.has(inst.state) || routers.isLeaving(inst.id) || wanted.has(inst.release)) continue;
    await routers.retire(env.name, svc.name, inst, 'release no longer wanted');
    await steps.recordInstance(null, 'instance.collected', 'applied', inst.id, inst);
  }
}
