import type { Generated } from 'kysely';
import type { AccessTables } from './schema-access.ts';
import type { DeployTables } from './schema-deploy.ts';
import type { LedgerTables } from './schema-ledger.ts';
import type { ReleaseTables } from './schema-release.ts';
import type { TrustTables } from './schema-trust.ts';

/** Times are ISO 8601 UTC strings (`Date.toISOString()`), which sort correctly as text on both engines. */
export interface RepositoryTable {
  name: string;
  created_at: string;
}

/** One row per blob held in the content-addressed store, whatever repositories link it. */
export interface BlobTable {
  digest: string;
  size: number;
  created_at: string;
  /** Refreshed on every push or mount so garbage collection's grace period starts again. */
  last_linked_at: string;
}

/** A blob is visible in a repository only once it was pushed or mounted there. */
export interface RepoBlobTable {
  repo: string;
  digest: string;
  created_at: string;
}

export interface ManifestTable {
  repo: string;
  digest: string;
  media_type: string;
  /** `artifactType`, or else `config.mediaType` (what the referrers API reports). */
  artifact_type: string | null;
  subject: string | null;
  /** JSON text of the manifest's annotations, reported by the referrers API. */
  annotations: string | null;
  size: number;
  /** The exact bytes pushed: a registry must never re-serialize a manifest. */
  content: Uint8Array;
  created_at: string;
}

export interface ManifestBlobTable {
  repo: string;
  manifest: string;
  blob: string;
}

export interface ManifestChildTable {
  repo: string;
  manifest: string;
  child: string;
}

export interface TagTable {
  repo: string;
  name: string;
  digest: string;
  updated_at: string;
}

/**
 * Append-only history of every state change (UPDATE and DELETE are refused by triggers). `seq` is dense and
 * commits in order (appends take a transaction-scoped lock on PostgreSQL), so the ledger can turn rows
 * into Merkle leaves by reading `seq > last`. `body` is the canonical JSON (RFC 8785) the leaf hashes.
 */
export interface EventTable {
  seq: Generated<number>;
  at: string;
  kind: string;
  actor: string;
  repo: string | null;
  digest: string | null;
  tag: string | null;
  previous: string | null;
  body: string;
}

export interface TokenTable {
  id: string;
  name: string;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  hash: string;
  /** JSON array of scopes: pull, push, delete, admin. */
  scopes: string;
  /** JSON array of repository patterns the scopes apply to. */
  repos: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface KeyValueTable {
  key: string;
  value: string;
}

export interface Database extends TrustTables, LedgerTables, ReleaseTables, AccessTables, DeployTables {
  repositories: RepositoryTable;
  blobs: BlobTable;
  repo_blobs: RepoBlobTable;
  manifests: ManifestTable;
  manifest_blobs: ManifestBlobTable;
  manifest_children: ManifestChildTable;
  tags: TagTable;
  events: EventTable;
  tokens: TokenTable;
  settings: KeyValueTable;
}
