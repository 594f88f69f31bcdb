import { BaseError } from '../core/index.ts';

export type EvidenceErrorCode = 'LOCKFILE_INVALID' | 'FILE_UNREADABLE' | 'EVIDENCE_INPUT_INVALID';

/** Failures while gathering build evidence: SBOM, lock files, secret scan, provenance. */
export class EvidenceError extends BaseError<EvidenceErrorCode> {}
