// The release room's public face: the pipeline spec, windows and the one promotion evaluator, and the service
// that keeps pipeline versions, promotions with their VSAs, approvals, vetoes and holds.
export type { AutoOutcome } from './auto-promotion.ts';
export { AUTO_ACTOR } from './auto-promotion.ts';
export type { GatheredEvidence } from './evidence-gatherer.ts';
export type {
  Approval,
  Block,
  PromotionDecision,
  PromotionRequest,
  PromotionStep,
  UpstreamVerification,
} from './gates.ts';
export { decidePromotion } from './gates.ts';
export type { ApprovalSpec, PipelineSpec, StageSpec } from './pipeline-spec.ts';
export {
  loadPipelineSpec,
  parsePipelineSpec,
  parsePipelineYAML,
  pipelineDigest,
  pipelineSpecJSONSchema,
  pipelineSpecSchema,
} from './pipeline-spec.ts';
export type { AppliedPipeline, PipelineVersion } from './pipeline-store.ts';
export type { PromoteRequest, PromoteResult } from './promotion.ts';
export type { EvidenceSource } from './referrer-evidence.ts';
export type { ApproveRequest, BlockChange } from './release-actions.ts';
export type { ReleaseErrorCode } from './release-error.ts';
export { ReleaseError } from './release-error.ts';
export type { Logged } from './release-log.ts';
export type { ApprovalRecord, PromotionRecord } from './release-records.ts';
export type { ReleaseDeps, ReleaseService } from './release-service.ts';
export { createReleaseService } from './release-service.ts';
export type { DigestStatus } from './release-status.ts';
export type { VsaInput } from './vsa.ts';
export { stageLevel, vsaStatement } from './vsa.ts';
export type { EvidenceStep, IssuedVsa } from './vsa-issuer.ts';
export type { RRule, WindowSpec, WindowState } from './windows.ts';
export { isTimeZone, occurrences, parseDuration, parseRRule, parseWindow, windowState } from './windows.ts';
