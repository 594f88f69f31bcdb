import type { Clock, Digest } from '../core/index.ts';
import type { ReleaseService } from '../release/index.ts';
import type { RuntimeDriver } from '../runtime/index.ts';
import type { StoreDatabase } from '../store/index.ts';
import type { DeployActions } from './deploy-service.ts';
import type { AnalysisSpec } from './environment-spec.ts';
import type { ServiceRouters } from './service-routers.ts';
import type { StepRecorder } from './step-recorder.ts';

/**
 * What the reconciler's parts share: its dependencies, the routers and step recorder it made, and the state
 * that lives between passes (analyses under way, instances being created). `createReconciler` makes one; the
 * instance and rollout steps take it, so they see the same maps and wake the same loop.
 */

export type ReconcilerLogger = {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
};

export type SecretResolver = (
  refs: ReadonlyArray<{ name: string; ref: string }>,
  context: { environment: string; service: string; release: Digest },
) => Promise<Record<string, string>>;

/** An analysis window a rollout opened: the router's mark when it began, evaluated once `intervalMs` passed. */
export interface PendingAnalysis {
  spec: AnalysisSpec;
  baseline: Digest | null;
  canary: Digest;
  mark: number;
  startedAt: number;
}

/** An instance whose start is under way. */
export interface CreatingInstance {
  environment: string;
  service: string;
  release: Digest;
}

export interface ReconcilerContext {
  readonly database: StoreDatabase;
  readonly db: StoreDatabase['db'];
  readonly release: ReleaseService;
  readonly driver: RuntimeDriver;
  readonly actions: DeployActions;
  readonly clock: Clock;
  readonly logger: ReconcilerLogger | undefined;
  /** Absent: a release that declares secrets cannot start. */
  readonly resolveSecrets: SecretResolver | undefined;
  readonly routers: ServiceRouters;
  readonly steps: StepRecorder;
  /** Analysis windows open, by rollout id. */
  readonly analyses: Map<string, PendingAnalysis>;
  /** Instances whose start is under way, by id: they count as starting until the driver lists them. */
  readonly creating: Map<string, CreatingInstance>;
  nowIso(): string;
  /** Asks for another pass (none once stopped); a finished instance start calls it. */
  wake(): void;
}
