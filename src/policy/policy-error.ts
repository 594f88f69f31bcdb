import { BaseError } from '../core/index.ts';

export type PolicyErrorCode =
  /** A gate list is not a list of `{ name, expression }` (compile errors of single gates are results, not throws). */
  | 'POLICY_INVALID'
  /** Evidence handed to `buildEvidenceContext` or a report parser has the wrong shape. */
  | 'EVIDENCE_INVALID';

/** An error of the policy room; `detail.path` names the offending field when one is at fault. */
export class PolicyError extends BaseError<PolicyErrorCode> {}
