import { leafHash, verifyInclusion } from '../ledger/index.ts';
import { type AuditFacts, describeLeaf } from './audit-leaf.ts';

/** An RFC 9162 inclusion proof as the report prints it (hashes and root in base64). */
export interface AuditProof {
  logIndex: number;
  treeSize: number;
  rootHash: string;
  hashes: string[];
}

/** One line of the audit report: what the leaf says, the leaf itself, and its proof against the checkpoint. */
export interface AuditRow extends AuditFacts {
  index: number;
  /** The leaf bytes, base64. */
  leaf: string;
  /** SHA-256(0x00 ‖ leaf), hex: what the proof starts from. */
  leafHash: string;
  inclusionProof: AuditProof;
  /** True only when the proof leads from this leaf to the checkpoint's root. */
  verified: boolean;
  /** Why the row is not verified (or what else is wrong around it). */
  problem?: string;
  /** Outside the filters, shown because it tells who built or signed a digest promoted in the report. */
  context?: true;
}

export interface AuditRowInput {
  index: number;
  body: Uint8Array;
  /** The proof's hashes; null when the ledger could not produce one. */
  hashes: readonly Uint8Array[] | null;
  treeSize: number;
  root: Uint8Array;
  problem?: string;
  context?: boolean;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** Describes a leaf and checks its inclusion proof; a failing proof gives a flagged row, never an exception. */
export function auditRow(input: AuditRowInput): AuditRow {
  const { index, body, hashes, treeSize, root } = input;
  const hash = leafHash(body);
  const proven = hashes !== null && verifyInclusion(index, treeSize, hash, hashes, root);
  const problem =
    input.problem ??
    (proven ? undefined : 'the inclusion proof does not lead to the checkpoint root: the leaf or the log was altered');
  return {
    index,
    ...describeLeaf(body),
    leaf: b64(body),
    leafHash: hash.toString('hex'),
    inclusionProof: { logIndex: index, treeSize, rootHash: b64(root), hashes: (hashes ?? []).map(b64) },
    verified: proven && input.problem === undefined,
    ...(problem === undefined ? {} : { problem }),
    ...(input.context === true ? { context: true as const } : {}),
  };
}

/** The row for an index the ledger has no leaf at: history was deleted, so it can never verify. */
export function missingRow(index: number, treeSize: number, root: Uint8Array): AuditRow {
  return {
    index,
    event: '(missing)',
    actor: '',
    time: '',
    digests: [],
    subject: '',
    detail: 'the ledger has no leaf at this index',
    leaf: '',
    leafHash: '',
    inclusionProof: { logIndex: index, treeSize, rootHash: b64(root), hashes: [] },
    verified: false,
    problem: 'the leaf was deleted from the ledger',
  };
}
