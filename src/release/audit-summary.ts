import { parseLeaf } from './audit-leaf.ts';
import type { AuditRow } from './audit-row.ts';

/** One event in a digest's summary: who, when, what, and whether its row verified. */
export interface AuditMention {
  index: number;
  actor: string;
  time: string;
  what: string;
  verified: boolean;
  stage?: string;
  policyDigest?: string;
  pipelineDigest?: string;
  /** The pipeline version `pipelineDigest` names, when the report holds its `pipeline.applied` row. */
  version?: string;
}

/** Who built, signed, approved and promoted one digest, from the report's rows. */
export interface AuditSubject {
  digest: string;
  repositories: string[];
  /** Pushes and SLSA provenance attestations. */
  built: AuditMention[];
  /** Signatures and the other attestations. */
  signed: AuditMention[];
  approved: AuditMention[];
  promoted: AuditMention[];
  /** Vetoes and lifted vetoes. */
  vetoed: AuditMention[];
  /** Every row about it verified. */
  verified: boolean;
}

/** A pipeline (policy) version, from its `pipeline.applied` row. */
export interface AuditPolicyVersion {
  version: string;
  pipelineDigest: string;
  appliedBy: string;
  appliedAt: string;
  index: number;
  verified: boolean;
}

const PROVENANCE = /^https:\/\/slsa\.dev\/provenance\//;
const leafField = (row: AuditRow, key: string): unknown => parseLeaf(Buffer.from(row.leaf, 'base64'))?.[key];

/** The pipeline versions among `rows`, in ledger order. */
export function policyVersionsOf(rows: readonly AuditRow[]): AuditPolicyVersion[] {
  return rows
    .filter((r) => r.event === 'pipeline.applied' && r.pipelineDigest !== undefined)
    .map((r) => ({
      version: r.pipelineVersion ?? '?',
      pipelineDigest: r.pipelineDigest!,
      appliedBy: r.actor,
      appliedAt: r.time,
      index: r.index,
      verified: r.verified,
    }));
}

/** Groups `rows` per artifact digest, in the order the digests first appear. */
export function summarizeAudit(rows: readonly AuditRow[], versions: readonly AuditPolicyVersion[]): AuditSubject[] {
  const versionOf = new Map(versions.map((v) => [v.pipelineDigest, v.version]));
  const subjects = new Map<string, AuditSubject>();
  for (const row of rows) {
    const column = columnOf(row);
    if (column === null) continue;
    // An attestation may cover several subjects; the other events are about their first digest.
    const digests = row.event === 'attestation' ? row.digests : row.digests.slice(0, 1);
    for (const digest of digests) {
      let s = subjects.get(digest);
      if (s === undefined) {
        s = { digest, repositories: [], built: [], signed: [], approved: [], promoted: [], vetoed: [], verified: true };
        subjects.set(digest, s);
      }
      if (row.repository !== undefined && !s.repositories.includes(row.repository)) s.repositories.push(row.repository);
      s[column].push(mention(row, versionOf));
      s.verified &&= row.verified;
    }
  }
  return [...subjects.values()];
}

function columnOf(row: AuditRow): 'built' | 'signed' | 'approved' | 'promoted' | 'vetoed' | null {
  switch (row.event) {
    case 'manifest.push':
      return 'built';
    case 'attestation': {
      const type = leafField(row, 'predicateType');
      return typeof type === 'string' && PROVENANCE.test(type) ? 'built' : 'signed';
    }
    case 'signature':
      return 'signed';
    case 'approval':
      return 'approved';
    case 'promotion':
      return 'promoted';
    case 'veto':
    case 'veto.lifted':
      return 'vetoed';
    default:
      return null;
  }
}

function mention(row: AuditRow, versionOf: ReadonlyMap<string, string>): AuditMention {
  const version =
    row.pipelineVersion ?? (row.pipelineDigest === undefined ? undefined : versionOf.get(row.pipelineDigest));
  return {
    index: row.index,
    actor: row.actor,
    time: row.time,
    what: row.detail,
    verified: row.verified,
    ...(row.stage === undefined ? {} : { stage: row.stage }),
    ...(row.policyDigest === undefined ? {} : { policyDigest: row.policyDigest }),
    ...(row.pipelineDigest === undefined ? {} : { pipelineDigest: row.pipelineDigest }),
    ...(version === undefined ? {} : { version }),
  };
}
