/**
 * A deploy's dry run (`fixity deploy ENV --dry-run`, CLI style rule 13): for each service, the release it
 * would roll out, from which, with which strategy, or why it would not; read only, so it takes no lock and
 * writes nothing, and a deploy right after may still find things changed.
 */
import type { Digest } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import { assertDeployable, deployState, environmentOf, resolveImage, serviceOf } from './deploy-checks.ts';
import { DeployError } from './deploy-error.ts';
import { deployRecords } from './deploy-records.ts';
import { configDigest, releaseConfig, releaseDigest } from './release-digest.ts';

export interface DeployPlanItem {
  readonly service: string;
  /** start: a rollout would begin; unchanged: it serves this release; in-progress: this release is rolling out;
   *  conflict: another rollout is in progress; refused: vetoed or not promoted (`message` says which). */
  readonly result: 'start' | 'unchanged' | 'in-progress' | 'conflict' | 'refused';
  readonly current: Digest | null;
  readonly release: Digest | null;
  readonly image: Digest | null;
  readonly strategy: 'rolling' | 'blueGreen' | 'canary';
  readonly replicas: number;
  readonly message: string;
}

export async function planDeploy(
  deps: { database: StoreDatabase; release: Pick<ReleaseService, 'promotions' | 'isVetoed'> },
  req: { environment: string; service?: string },
): Promise<DeployPlanItem[]> {
  const { db } = deps.database;
  const env = await environmentOf(db, req.environment, `plan a deploy to ${req.environment}`);
  const services =
    req.service === undefined ? env.spec.services : [serviceOf(env, req.service, `plan a deploy of ${req.service}`)];
  const items: DeployPlanItem[] = [];
  for (const svc of services) {
    const strategy = svc.strategy.kind;
    const record = await deployRecords.service(db, env.name, svc.name);
    const base = {
      service: svc.name,
      current: record?.currentRelease ?? null,
      strategy,
      replicas: svc.replicas,
    } as const;
    let image: Digest | null = null;
    try {
      image = await resolveImage(deps.release, svc);
      await assertDeployable(deps.release, env.spec, image);
    } catch (err) {
      if (!(err instanceof DeployError)) throw err;
      items.push({ ...base, result: 'refused', release: null, image, message: err.message });
      continue;
    }
    const release = releaseDigest(image, configDigest(releaseConfig(svc, env.spec)));
    const active = record?.rolloutId ? await deployRecords.rollout(db, record.rolloutId) : null;
    const state = deployState(record, active, release);
    const message =
      state.kind === 'in-progress'
        ? `this release is already rolling out (rollout ${state.rollout.id})`
        : state.kind === 'conflict'
          ? `rollout ${state.rollout.id} of ${state.rollout.target.slice(7, 19)} is in progress`
          : state.kind === 'unchanged'
            ? 'already serving this release'
            : `a ${strategy} rollout to ${svc.replicas} replica(s)`;
    items.push({ ...base, result: state.kind, release, image, message });
  }
  return items;
}
