/**
 * What a deploy asks before it changes anything, shared by the deploy itself and its dry run
 * (deploy-plan.ts): the environment and service named, the image a service resolves to, and whether that
 * image may run in the environment (not vetoed, promoted into its stage).
 */
import type { Digest } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { Executor } from '../store/index.ts';
import { DeployError } from './deploy-error.ts';
import { deployRecords, type EnvironmentVersion, type RolloutRecord, type ServiceRecord } from './deploy-records.ts';
import type { EnvironmentSpec, ServiceSpec } from './environment-spec.ts';

type Release = Pick<ReleaseService, 'promotions' | 'isVetoed'>;

export async function environmentOf(db: Executor, name: string, what: string): Promise<EnvironmentVersion> {
  const env = await deployRecords.environment(db, name);
  if (env === null)
    throw new DeployError('ENV_UNKNOWN', `Cannot ${what}: no environment "${name}" (fixity env apply FILE)`);
  return env;
}

export function serviceOf(env: EnvironmentVersion, name: string, what: string): ServiceSpec {
  const svc = env.spec.services.find((s) => s.name === name);
  if (svc === undefined) {
    const known = env.spec.services.map((s) => s.name).join(', ');
    throw new DeployError(
      'SERVICE_UNKNOWN',
      `Cannot ${what}: environment "${env.name}" has no service "${name}" (it has ${known})`,
    );
  }
  return svc;
}

/** The image a service should run: its pinned digest, or the stage's newest promotion of its repository. */
export async function resolveImage(release: Release, svc: ServiceSpec): Promise<Digest> {
  const image = svc.image;
  if (image.kind === 'digest') return image.digest;
  const stage = image.stage;
  const promoted = (await release.promotions({ stage })).filter((p) => p.repository === image.repository);
  const last = promoted.at(-1);
  if (last === undefined)
    throw new DeployError(
      'NOT_PROMOTED',
      `Cannot resolve ${image.repository}@stage ${stage}: nothing of ${image.repository} was promoted to ${stage}`,
    );
  return last.digest;
}

/**
 * Refuses what may not run in `env`: a vetoed digest, or one never promoted to the environment's stage.
 * Asked at deploy and again before every instance is created.
 */
export async function assertDeployable(release: Release, env: EnvironmentSpec, image: Digest): Promise<void> {
  if (await release.isVetoed(image))
    throw new DeployError('VETOED', `Cannot deploy ${image}: it is vetoed (fixity veto ${image} --lift to clear)`);
  const promoted = await release.promotions({ digest: image, stage: env.stage });
  if (promoted.length === 0)
    throw new DeployError(
      'NOT_PROMOTED',
      `Cannot deploy ${image} to ${env.name}: it was never promoted to stage "${env.stage}" (fixity promote REF --to ${env.stage})`,
    );
}

/**
 * Where a deploy of `target` stands against what a service runs: another rollout under way (a conflict),
 * this very release rolling out already, the release already served, or free to start. The deploy and its
 * dry run both decide by this.
 */
export function deployState(
  record: Pick<ServiceRecord, 'currentRelease'> | null,
  active: RolloutRecord | null,
  target: Digest,
): { kind: 'conflict' | 'in-progress'; rollout: RolloutRecord } | { kind: 'unchanged' | 'start' } {
  if (active !== null && active.status === 'active')
    return { kind: active.target === target ? 'in-progress' : 'conflict', rollout: active };
  return { kind: record?.currentRelease === target ? 'unchanged' : 'start' };
}
