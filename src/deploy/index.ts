// The deploy room's public face: environment specs, releases, rollout strategies, analysis, and the
// service whose reconciler runs them on a runtime driver behind the routers.
export type { AnalysisRunResult, Window } from './analysis.ts';
export { evaluateAnalysis } from './analysis.ts';
export type { EnvironmentDeletion, RemovedService } from './delete-environment.ts';
export type { DeployService, DeployServiceDeps } from './deploy.ts';
export { createDeployService } from './deploy.ts';
export type { DeployErrorCode } from './deploy-error.ts';
export { DeployError } from './deploy-error.ts';
export type { EnvironmentVersion, RolloutRecord } from './deploy-records.ts';
export type { DeployOutcome } from './deploy-service.ts';
export type { AnalysisSpec, EnvironmentSpec, ServiceSpec } from './environment-spec.ts';
export { environmentSpecJSONSchema, parseEnvironment } from './environment-spec.ts';
export { createStoreImageSource } from './image-source.ts';
export { mannWhitneyU } from './mann-whitney.ts';
export type { SecretResolver } from './reconciler.ts';
export { configDigest, releaseConfig, releaseDigest } from './release-digest.ts';
