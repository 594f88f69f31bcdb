import type { KeyObject } from 'node:crypto';
import { type Clock, systemClock } from '../core/index.ts';
import { type Ledger, openCheckpoint, parseCheckpoint, parseNote } from '../ledger/index.ts';
import { type AuditFacts, describeLeaf, PROVENANCE_EVENTS } from './audit-leaf.ts';
import { type AuditRow, auditRow } from './audit-row.ts';
import { scanLedger } from './audit-scan.ts';
import { type AuditPolicyVersion, type AuditSubject, policyVersionsOf, summarizeAudit } from './audit-summary.ts';

export interface AuditReportOptions {
  ledger: Ledger;
  /** Events at or after this time (RFC 3339 `time` of the leaf). */
  since?: Date;
  /** Events at or before this time. */
  until?: Date;
  /** Only this stage's promotions, approvals and holds, with the build and sign events of what was promoted. */
  stage?: string;
  signal?: AbortSignal;
  clock?: Clock;
  /** The ledger key and origin: when given, the checkpoint's signature is checked too. */
  key?: { publicKey: KeyObject; origin: string };
  /** Matching rows kept before the report is cut short (default 10,000); failing rows are always kept. */
  maxRows?: number;
}

/** The one checkpoint every row is proven against. */
export interface AuditCheckpoint {
  size: number;
  /** Base64, as in the checkpoint note. */
  rootHash: string;
  /** The C2SP signed note. */
  note: string;
  /** The note parses and names this size and root (and its signature verified, when `signatureChecked`). */
  verified: boolean;
  signatureChecked: boolean;
  /** Every leaf of the ledger, read in full, hashes to the checkpoint's root. */
  leavesMatchRoot: boolean;
  problem?: string;
}

export interface AuditReport {
  generatedAt: string;
  filters: { since?: string; until?: string; stage?: string };
  checkpoint: AuditCheckpoint;
  policyVersions: AuditPolicyVersion[];
  /** Per artifact digest: who built, signed, approved and promoted it. */
  subjects: AuditSubject[];
  rows: AuditRow[];
  counts: { scanned: number; matched: number; rows: number; failed: number; omitted: number };
  /** The checkpoint verified, every leaf hashes to its root, and every row's proof holds. */
  ok: boolean;
}

/** The parts a report is assembled from; the CLI reassembles a report it re-verified locally. */
export interface AuditReportParts {
  generatedAt: string;
  filters: AuditReport['filters'];
  checkpoint: AuditCheckpoint;
  rows: AuditRow[];
  counts: { scanned: number; matched: number; omitted: number };
}

/**
 * Reads the whole ledger in pages against its latest checkpoint and reports who built, signed, approved and
 * promoted what, when, under which pipeline version; every row carries its inclusion proof, checked here.
 */
export async function buildAuditReport(options: AuditReportOptions): Promise<AuditReport> {
  const { ledger, signal } = options;
  const generatedAt = (options.clock ?? systemClock).now().toISOString();
  const checkpoint = await readCheckpoint(ledger, options.key);
  const root = Buffer.from(checkpoint.rootHash, 'base64');
  const prove = async (index: number, body: Uint8Array, extra: { problem?: string; context?: boolean } = {}) => {
    let hashes: Buffer[] | null = null;
    let problem = extra.problem;
    try {
      hashes = (await ledger.inclusionProof(index, checkpoint.size)).hashes;
    } catch (err) {
      problem ??= `the ledger cannot prove this leaf: ${(err as Error).message}`;
    }
    return auditRow({
      index,
      body,
      hashes,
      treeSize: checkpoint.size,
      root,
      ...(problem === undefined ? {} : { problem }),
      ...(extra.context === true ? { context: true } : {}),
    });
  };
  const scan = await scanLedger({
    ledger,
    size: checkpoint.size,
    root,
    wanted: selector(options),
    maxRows: options.maxRows ?? 10_000,
    prove,
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(signal === undefined ? {} : { signal }),
  });
  const kept = new Set(scan.rows.map((r) => r.index));
  const rows = [...scan.rows];
  const add = async (index: number, accept: (facts: AuditFacts) => boolean) => {
    if (kept.has(index) || index >= checkpoint.size) return;
    const entry = await ledger.entry(index);
    if (entry === null || !accept(describeLeaf(entry.body))) return;
    kept.add(index);
    rows.push(await prove(index, entry.body, { context: true }));
  };
  // Each promoted or approved digest shows who built and signed it, even before the window.
  const until = options.until?.getTime();
  for (const digest of scan.promoted) {
    signal?.throwIfAborted();
    for (const index of await ledger.findByDigest(digest)) {
      await add(
        index,
        (f) =>
          PROVENANCE_EVENTS.has(f.event) &&
          f.digests.includes(digest) &&
          (until === undefined || !(Date.parse(f.time) > until)),
      );
    }
  }
  // The pipeline versions its promotions ran under and, unless one stage is asked for, the one in force when
  // the window opens (those applied inside the window are rows already).
  const named = new Set(rows.flatMap((r) => (r.event === 'promotion' && r.pipelineDigest ? [r.pipelineDigest] : [])));
  const versions = [...named].flatMap((d) => scan.pipelines.get(d) ?? []);
  if (scan.pipelineAtStart !== null && options.stage === undefined) versions.push(scan.pipelineAtStart);
  for (const index of versions) await add(index, (f) => f.event === 'pipeline.applied');
  rows.sort((a, b) => a.index - b.index);
  checkpoint.leavesMatchRoot = scan.leavesMatchRoot;
  if (!scan.leavesMatchRoot) {
    checkpoint.problem ??=
      'the ledger leaves do not hash to the checkpoint root: history was altered (run `fixity ledger verify`)';
  }
  return assembleAuditReport({
    generatedAt,
    filters: {
      ...(options.since === undefined ? {} : { since: options.since.toISOString() }),
      ...(options.until === undefined ? {} : { until: options.until.toISOString() }),
      ...(options.stage === undefined ? {} : { stage: options.stage }),
    },
    checkpoint,
    rows,
    counts: { scanned: scan.scanned, matched: scan.matched, omitted: scan.omitted },
  });
}

/** Completes a report from its rows: pipeline versions, the per-digest summary, counts and the verdict. */
export function assembleAuditReport(parts: AuditReportParts): AuditReport {
  const policyVersions = policyVersionsOf(parts.rows);
  const failed = parts.rows.filter((r) => !r.verified).length;
  return {
    generatedAt: parts.generatedAt,
    filters: parts.filters,
    checkpoint: parts.checkpoint,
    policyVersions,
    subjects: summarizeAudit(parts.rows, policyVersions),
    rows: parts.rows,
    counts: { ...parts.counts, rows: parts.rows.length, failed },
    ok: parts.checkpoint.verified && parts.checkpoint.leavesMatchRoot && failed === 0,
  };
}

// A leaf without a readable time is in no window, but in the report when no window is asked for.
function selector(options: AuditReportOptions): (facts: AuditFacts) => boolean {
  const since = options.since?.getTime();
  const until = options.until?.getTime();
  const { stage } = options;
  return (f) => {
    if (stage !== undefined && f.stage !== stage) return false;
    if (since === undefined && until === undefined) return true;
    const t = Date.parse(f.time);
    return !Number.isNaN(t) && (since === undefined || t >= since) && (until === undefined || t <= until);
  };
}

// The server trusts its own key, but still checks that the signed note names the stored size and root.
async function readCheckpoint(ledger: Ledger, key: AuditReportOptions['key']): Promise<AuditCheckpoint> {
  const cp = await ledger.checkpoint();
  const base = { size: cp.size, note: cp.note, signatureChecked: key !== undefined, leavesMatchRoot: true };
  try {
    const signed =
      key === undefined ? parseCheckpoint(parseNote(cp.note).text) : openCheckpoint(cp.note, key.publicKey, key.origin);
    const same = signed.size === cp.size && signed.root.equals(cp.root);
    return {
      ...base,
      rootHash: signed.root.toString('base64'),
      verified: same,
      ...(same ? {} : { problem: 'the signed checkpoint names another tree than the stored one' }),
    };
  } catch (err) {
    return {
      ...base,
      rootHash: cp.root.toString('base64'),
      verified: false,
      problem: `the checkpoint does not verify: ${(err as Error).message}`,
    };
  }
}
