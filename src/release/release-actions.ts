import { actorPrincipal, type Clock, type Digest, newId } from '../core/index.ts';
import type { RegistryMetadata, StoreDatabase } from '../store/index.ts';
import type { Block } from './gates.ts';
import type { PipelineStore } from './pipeline-store.ts';
import { ReleaseError } from './release-error.ts';
import type { Logged, ReleaseLog } from './release-log.ts';
import { type ApprovalRecord, records } from './release-records.ts';

export interface ApproveRequest {
  readonly repository: string;
  readonly digest: Digest;
  readonly stage: string;
  readonly actor: string;
  readonly comment?: string;
  /** The approver's groups, for `of: [group:NAME]`. */
  readonly groups?: readonly string[];
}

/** A veto or hold as it stands after the call; `changed` is false when it was already so (nothing logged). */
export type BlockChange = Logged & { readonly block: Block; readonly changed: boolean };

/** Approvals, vetoes and holds: each a row and its ledger leaf in one transaction. */
export function createReleaseActions(deps: {
  database: StoreDatabase;
  metadata: RegistryMetadata;
  pipelines: PipelineStore;
  log: ReleaseLog;
  clock: Clock;
}) {
  const { db } = deps.database;
  const now = () => deps.clock.now();

  async function stageOf(name: string, action: string) {
    const pipeline = await deps.pipelines.current();
    if (pipeline === null) throw new ReleaseError('PIPELINE_UNSET', `Cannot ${action}: no pipeline has been applied`);
    const stage = pipeline.spec.stages.find((s) => s.name === name);
    if (stage === undefined) {
      const names = pipeline.spec.stages.map((s) => s.name).join(', ');
      throw new ReleaseError('STAGE_UNKNOWN', `Cannot ${action}: "${name}" is not a stage; the stages are ${names}`);
    }
    return stage;
  }

  // Writes a veto/lift or hold/unhold row with its leaf, under the subject's lock, unless `check` says no change.
  async function change<T extends 'release_vetoes' | 'release_holds'>(
    table: T,
    key: { column: 'digest' | 'stage'; value: string },
    check: (current: Block | null) => Block | 'change',
    row: { action: string; actor: string; reason: string },
    leaf: { event: string; digests: string[] } & Record<string, unknown>,
  ): Promise<BlockChange> {
    const at = now();
    const result = await db.transaction().execute(async (trx) => {
      await deps.log.lock(trx, `release:${key.column}:${key.value}`);
      const current =
        table === 'release_vetoes'
          ? await records.veto(trx, key.value)
          : ((await records.holds(trx, key.value)).get(key.value) ?? null);
      const verdict = check(current);
      if (verdict !== 'change') return { block: verdict, logId: null };
      const logId = await deps.log.enqueue(trx, { ...leaf, actor: row.actor, time: at.toISOString() }, leaf.digests);
      await trx
        .insertInto(table)
        .values({ id: newId(), [key.column]: key.value, ...row, at: at.toISOString(), log_id: logId } as never)
        .execute();
      return { block: { by: row.actor, reason: row.reason, at }, logId };
    });
    await deps.database.durable();
    if (result.logId === null) return { block: result.block, changed: false, logIndex: null };
    return { block: result.block, changed: true, ...(await deps.log.settle(result.logId)) };
  }

  return {
    /** Records an approval; the author of the build may not approve it unless the stage allows it. */
    async approve(req: ApproveRequest): Promise<ApprovalRecord & Logged> {
      const stage = await stageOf(req.stage, `approve ${req.digest} for ${req.stage}`);
      if ((await deps.metadata.getManifest(req.repository, { digest: req.digest })) === null)
        throw new ReleaseError('ARTIFACT_UNKNOWN', `Cannot approve: ${req.repository} has no manifest ${req.digest}`);
      const author = await records.author(db, req.digest);
      if (!stage.approvals?.allowAuthor && author !== null && actorPrincipal(author) === actorPrincipal(req.actor)) {
        throw new ReleaseError(
          'APPROVAL_REFUSED',
          `Cannot approve ${req.digest} for ${req.stage}: ${actorPrincipal(req.actor)} pushed it, and the author cannot approve their own build`,
        );
      }
      const at = now();
      const record: ApprovalRecord = {
        id: newId(),
        repository: req.repository,
        digest: req.digest,
        stage: req.stage,
        user: req.actor,
        at,
        comment: req.comment ?? '',
        groups: [...(req.groups ?? [])],
      };
      const leaf = {
        event: 'approval',
        actor: req.actor,
        time: at.toISOString(),
        digests: [req.digest],
        repository: req.repository,
        stage: req.stage,
        comment: record.comment,
      };
      const logId = await db.transaction().execute(async (trx) => {
        const id = await deps.log.enqueue(trx, leaf, [req.digest]);
        await trx
          .insertInto('release_approvals')
          .values({
            id: record.id,
            repository: record.repository,
            digest: record.digest,
            stage: record.stage,
            actor: record.user,
            comment: record.comment ?? '',
            groups: JSON.stringify(record.groups),
            at: at.toISOString(),
            log_id: id,
          })
          .execute();
        return id;
      });
      await deps.database.durable();
      return { ...record, ...(await deps.log.settle(logId)) };
    },

    /** Vetoes a digest everywhere until an admin lifts it; vetoing it again changes nothing. */
    veto: (req: { digest: Digest; reason: string; actor: string }) =>
      change(
        'release_vetoes',
        { column: 'digest', value: req.digest },
        (current) => current ?? 'change',
        { action: 'veto', actor: req.actor, reason: req.reason },
        { event: 'veto', digests: [req.digest], reason: req.reason },
      ),

    /** Lifts the veto on a digest (admins only). */
    async liftVeto(req: { digest: Digest; actor: string; admin: boolean; reason?: string }): Promise<BlockChange> {
      if (!req.admin)
        throw new ReleaseError('ADMIN_REQUIRED', `Cannot lift the veto on ${req.digest}: only an admin may`);
      const reason = req.reason ?? '';
      return change(
        'release_vetoes',
        { column: 'digest', value: req.digest },
        (current) => {
          if (current === null)
            throw new ReleaseError('NOT_VETOED', `Cannot lift the veto on ${req.digest}: it is not vetoed`);
          return 'change';
        },
        { action: 'lift', actor: req.actor, reason },
        { event: 'veto.lifted', digests: [req.digest], reason },
      );
    },

    /** Stops automatic promotion into a stage (manual promotion still works); holding it again changes nothing. */
    async hold(req: { stage: string; actor: string; reason: string }): Promise<BlockChange> {
      await stageOf(req.stage, `hold ${req.stage}`);
      return change(
        'release_holds',
        { column: 'stage', value: req.stage },
        (current) => current ?? 'change',
        { action: 'hold', actor: req.actor, reason: req.reason },
        { event: 'hold', digests: [], stage: req.stage, reason: req.reason },
      );
    },

    /** Lets automatic promotion into a stage resume. */
    unhold: (req: { stage: string; actor: string; reason?: string }) =>
      change(
        'release_holds',
        { column: 'stage', value: req.stage },
        (current) => {
          if (current === null)
            throw new ReleaseError('NOT_HELD', `Cannot release the hold on ${req.stage}: it is not held`);
          return 'change';
        },
        { action: 'unhold', actor: req.actor, reason: req.reason ?? '' },
        { event: 'unhold', digests: [], stage: req.stage, reason: req.reason ?? '' },
      ),
  };
}

export type ReleaseActions = ReturnType<typeof createReleaseActions>;
