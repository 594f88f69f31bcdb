export type { Path, Segment } from './check.ts';
export { formatPath } from './check.ts';
export type { CompiledGate, CompiledPolicy, CompileIssue, GateSource } from './compile.ts';
export { compilePolicy, MAX_EXPRESSION_LENGTH, MAX_GATES, policyDigest } from './compile.ts';
export { COST_BUDGET, UNKNOWN_RANGE } from './cost.ts';
export type { GateResult, PolicyResult } from './evaluate.ts';
export { evaluate } from './evaluate.ts';
export type { EvidenceContext, EvidenceInput, EvidenceValues, Projection, Signature } from './evidence.ts';
export { buildEvidenceContext } from './evidence.ts';
export type { PolicyErrorCode } from './policy-error.ts';
export { PolicyError } from './policy-error.ts';
export type { ProvenanceSummary, SbomPackage, SbomSummary, TestSummary } from './predicates.ts';
export { parseProvenance, parseSbom, parseTestResult } from './predicates.ts';
export type { Severity, VulnerabilityFinding, VulnerabilitySummary } from './vulnerabilities.ts';
export {
  COSIGN_VULN_PREDICATE_TYPE,
  parseCosignVulnPredicate,
  parseGrypeReport,
  parseTrivyReport,
  parseVulnerabilityReport,
} from './vulnerabilities.ts';
