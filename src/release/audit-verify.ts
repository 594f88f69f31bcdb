import type { KeyObject } from 'node:crypto';
import { openCheckpoint } from '../ledger/index.ts';
import { type AuditCheckpoint, type AuditReport, assembleAuditReport } from './audit-report.ts';
import { type AuditRow, auditRow, missingRow } from './audit-row.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Re-checks a report that came from a server against the ledger key the caller trusts: opens the signed
 * checkpoint, re-derives every row from its leaf bytes (so no field the server wrote is taken on trust) and
 * walks every proof to the signed root. Rows that do not hold are flagged.
 */
export function verifyAuditReport(report: AuditReport, key: { publicKey: KeyObject; origin: string }): AuditReport {
  let signed: { size: number; root: Buffer } | null = null;
  let problem: string | undefined;
  try {
    signed = openCheckpoint(report.checkpoint.note, key.publicKey, key.origin);
  } catch (err) {
    problem = `the checkpoint does not verify with the trusted ledger key: ${(err as Error).message}`;
  }
  const size = signed?.size ?? 0;
  const root = signed?.root ?? Buffer.alloc(32);
  const checkpoint: AuditCheckpoint = {
    size,
    rootHash: root.toString('base64'),
    note: report.checkpoint.note,
    verified: signed !== null,
    signatureChecked: true,
    leavesMatchRoot: report.checkpoint.leavesMatchRoot === true,
    ...(problem === undefined
      ? report.checkpoint.problem === undefined
        ? {}
        : { problem: report.checkpoint.problem }
      : { problem }),
  };
  const rows = (Array.isArray(report.rows) ? report.rows : []).map((row) => recheck(row, size, root, problem));
  return assembleAuditReport({
    generatedAt: report.generatedAt,
    filters: report.filters,
    checkpoint,
    rows,
    counts: report.counts,
  });
}

function recheck(row: AuditRow, size: number, root: Buffer, checkpointProblem: string | undefined): AuditRow {
  const index = row.index;
  if (!Number.isSafeInteger(index) || index < 0) return missingRow(0, size, root);
  const hashes = row.inclusionProof?.hashes;
  if (typeof row.leaf !== 'string' || row.leaf === '' || !BASE64.test(row.leaf) || !Array.isArray(hashes)) {
    return missingRow(index, size, root);
  }
  const local = auditRow({
    index,
    body: Buffer.from(row.leaf, 'base64'),
    hashes: hashes.every((h) => typeof h === 'string') ? hashes.map((h) => Buffer.from(h, 'base64')) : null,
    treeSize: size,
    root,
    ...(checkpointProblem === undefined ? {} : { problem: checkpointProblem }),
    context: row.context === true,
  });
  if (!local.verified || row.verified !== false) return local;
  return { ...local, problem: `the server flagged this row (${String(row.problem)}), yet its proof holds` };
}
