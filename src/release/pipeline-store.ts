import { type Clock, canonicalJSON, type Digest } from '../core/index.ts';
import type { Executor, StoreDatabase } from '../store/index.ts';
import { type PipelineSpec, parsePipelineYAML, pipelineDigest } from './pipeline-spec.ts';
import { ReleaseError } from './release-error.ts';
import type { Logged, ReleaseLog } from './release-log.ts';

/** One stored version of the pipeline. */
export interface PipelineVersion {
  readonly version: number;
  readonly digest: Digest;
  readonly spec: PipelineSpec;
  readonly yaml: string;
  readonly appliedBy: string;
  readonly appliedAt: Date;
}

export interface AppliedPipeline extends Logged {
  readonly version: number;
  readonly digest: Digest;
  /** False when the pipeline was already the current one (no new version, nothing logged). */
  readonly changed: boolean;
}

/** Pipeline versions: immutable, numbered 1, 2, …, each recorded in the ledger with its digest. */
export function createPipelineStore(deps: { database: StoreDatabase; log: ReleaseLog; clock: Clock }) {
  const { db } = deps.database;
  const parsed = new Map<number, PipelineVersion>();

  async function latest(executor: Executor): Promise<PipelineVersion | null> {
    const row = await executor
      .selectFrom('release_pipelines')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row === undefined) return null;
    const version = Number(row.version);
    let found = parsed.get(version);
    if (found === undefined) {
      // Validated when applied; stored as canonical JSON of the result.
      const spec = JSON.parse(row.spec) as PipelineSpec;
      found = {
        version,
        digest: row.digest as Digest,
        spec,
        yaml: row.yaml,
        appliedBy: row.applied_by,
        appliedAt: new Date(row.applied_at),
      };
      parsed.set(version, found);
    }
    return found;
  }

  return {
    /** The current version, or null before the first apply. */
    current: (executor: Executor = db) => latest(executor),

    /**
     * Validates and stores `yaml` as the next version. Enabling `auto` on a stage that does not have it in the
     * current version needs an admin (separation of duties: editing a stage is not promoting into it).
     */
    async apply(yaml: string, who: { actor: string; admin: boolean }): Promise<AppliedPipeline> {
      const spec = parsePipelineYAML(yaml);
      const digest = pipelineDigest(spec);
      const result = await db.transaction().execute(async (trx) => {
        await deps.log.lock(trx, 'release:pipeline');
        const current = await latest(trx);
        if (current?.digest === digest) return { version: current.version, logId: null };
        const wasAuto = new Set(current?.spec.stages.filter((s) => s.auto).map((s) => s.name));
        const enabled = spec.stages.filter((s) => s.auto && !wasAuto.has(s.name)).map((s) => s.name);
        if (enabled.length > 0 && !who.admin) {
          throw new ReleaseError(
            'ADMIN_REQUIRED',
            `Cannot apply the pipeline: only an admin may enable automatic promotion (auto: true) into ${enabled.join(', ')}`,
          );
        }
        const version = (current?.version ?? 0) + 1;
        const time = deps.clock.now().toISOString();
        const leaf = { event: 'pipeline.applied', actor: who.actor, time, digests: [digest], version };
        const logId = await deps.log.enqueue(trx, leaf, [digest]);
        await trx
          .insertInto('release_pipelines')
          .values({
            version,
            digest,
            yaml,
            spec: canonicalJSON(spec),
            applied_by: who.actor,
            applied_at: time,
            log_id: logId,
          })
          .execute();
        return { version, logId };
      });
      await deps.database.durable();
      if (result.logId === null) {
        const row = await db
          .selectFrom('release_pipelines')
          .select('log_id')
          .where('version', '=', result.version)
          .executeTakeFirstOrThrow();
        return {
          version: result.version,
          digest,
          changed: false,
          logIndex: await deps.log.indexOf(Number(row.log_id)),
        };
      }
      return { version: result.version, digest, changed: true, ...(await deps.log.settle(result.logId)) };
    },
  };
}

export type PipelineStore = ReturnType<typeof createPipelineStore>;
