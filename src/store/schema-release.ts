import type { Generated } from 'kysely';

// Every release table is append-only: a state is the newest row, never an updated one. `log_id` names the
// release_log row (written in the same transaction) that carries the change into the ledger.

/** One version of the promotion pipeline; a version is never changed. */
export interface ReleasePipelineTable {
  version: number;
  /** sha256 of the canonical JSON of the validated spec. */
  digest: string;
  yaml: string;
  /** Canonical JSON of the validated spec (defaults filled in). */
  spec: string;
  applied_by: string;
  applied_at: string;
  log_id: number;
}

/** One promotion of a digest into a stage; (digest, stage) and (stage, stage_seq) are unique. */
export interface ReleasePromotionTable {
  id: string;
  repository: string;
  digest: string;
  stage: string;
  /** 1, 2, … per stage: a promotion claims the number after the one its evaluation saw. */
  stage_seq: number;
  pipeline_version: number;
  pipeline_digest: string;
  policy_digest: string;
  trigger: string;
  actor: string;
  promoted_at: string;
  /** JSON of the decision's steps, as evaluated. */
  decision: string;
  /** JSON of the signed VSA (DSSE envelope), signed before the promotion was claimed. */
  envelope: string;
  log_id: number;
  /** Why a person promoted (required into a protected stage); null for automatic and older promotions. */
  reason: string | null;
}

/** The VSA bundle of a promotion once it is in the ledger and stored as a referrer of the image. */
export interface ReleaseVsaTable {
  promotion_id: string;
  referrer: string;
  log_index: number;
  bundle: string;
  recorded_at: string;
}

export interface ReleaseApprovalTable {
  id: string;
  repository: string;
  digest: string;
  stage: string;
  actor: string;
  comment: string;
  /** JSON array of the groups the approver belonged to. */
  groups: string;
  at: string;
  log_id: number;
}

/** Vetoes on a digest and their lifts; the newest row per digest is in force. */
export interface ReleaseVetoTable {
  id: string;
  digest: string;
  action: 'veto' | 'lift';
  actor: string;
  reason: string;
  at: string;
  log_id: number;
}

/** Holds on a stage (no automatic promotion into it) and their releases; the newest row per stage is in force. */
export interface ReleaseHoldTable {
  id: string;
  stage: string;
  action: 'hold' | 'unhold';
  actor: string;
  reason: string;
  at: string;
  log_id: number;
}

/** The outbox: each ledger leaf the release room writes, stored with the change it records. */
export interface ReleaseLogTable {
  id: Generated<number>;
  /** The leaf: canonical JSON, exactly the bytes appended. */
  leaf: string;
  /** JSON array of the digests the leaf concerns. */
  digests: string;
  created_at: string;
}

/** Which outbox rows are in the ledger, at which index. */
export interface ReleaseLoggedTable {
  id: number;
  ledger_index: number;
}

/** Tables of the release room (migration 0004). */
export interface ReleaseTables {
  release_pipelines: ReleasePipelineTable;
  release_promotions: ReleasePromotionTable;
  release_vsas: ReleaseVsaTable;
  release_approvals: ReleaseApprovalTable;
  release_vetoes: ReleaseVetoTable;
  release_holds: ReleaseHoldTable;
  release_log: ReleaseLogTable;
  release_logged: ReleaseLoggedTable;
}
