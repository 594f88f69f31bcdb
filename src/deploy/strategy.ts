import type { Digest } from '../core/index.ts';
import type { AnalysisRunResult } from './analysis.ts';
import type { AnalysisSpec, ServiceSpec } from './environment-spec.ts';
import { advance } from './strategy-advance.ts';
import { promoteIndex, scaleAndWeights } from './strategy-scale.ts';
import {
  analysisAt,
  isPauseStep,
  isTerminal,
  next,
  promote,
  rollback,
  short,
  USER_PAUSE,
} from './strategy-transitions.ts';

export { rollingBounds } from './strategy-scale.ts';

/**
 * The rollout state machine (modelled on Argo Rollouts). Pure: the reconciler observes instances, commands and
 * analysis results, calls `step`, stores the state and carries out the actions. `step` runs until it is blocked,
 * so calling it again with the same observation gives the same state and actions: a reconciler that crashed
 * after applying some actions resumes by stepping again.
 *
 * This module holds the state, the observation and the actions, and `step` with the commands and analysis
 * results it applies first; the moves themselves live in strategy-advance.ts, the analysis gates in
 * strategy-analysis.ts, the shared transitions in strategy-transitions.ts and the scaling in strategy-scale.ts.
 */

/** Instances of one release. */
export interface ReleaseCounts {
  ready: number;
  starting: number;
  total: number;
}

export type Phase = 'progressing' | 'paused' | 'analyzing' | 'promoting' | 'completed' | 'aborted' | 'rolledBack';

/** JSON-serialisable; the reconciler stores it and resumes from it after a crash. */
export interface RolloutState {
  strategy: 'rolling' | 'blueGreen' | 'canary';
  /** Release serving before the rollout (null on first deploy). */
  stable: Digest | null;
  /** Release being rolled out. */
  target: Digest;
  replicas: number;
  /** Canary: index into steps. Blue-green: 0 preview, 1 analysis, 2 awaiting promotion. Rolling: 0. */
  stepIndex: number;
  phase: Phase;
  /** Router weights by release, summing to 100; empty while nothing serves yet (first deploy). */
  weights: Record<string, number>;
  /** ISO time a timed pause or the blue-green scale-down delay ends. */
  pausedUntil: string | null;
  pauseReason: string | null;
  /** The analysis in progress (a step's, or the canary background analysis between steps). */
  analysis: { startedAt: string; runs: AnalysisRunResult[] } | null;
  message: string;
}

/** From the CLI: 'resume' also approves a pause that waits for approval; 'promote' skips to full promotion. */
export type Command = 'pause' | 'resume' | 'abort' | 'promote';

export interface Observation {
  now: Date;
  counts: Record<string, ReleaseCounts>;
  /** The result of the analysis interval started by the last 'analyze' action, if one finished. */
  analysis?: AnalysisRunResult;
  /** Commands not yet applied; each must be passed exactly once. */
  commands: Command[];
}

export type Action =
  /** Desired instance count for that release (the reconciler creates or stops instances). */
  | { kind: 'scale'; release: Digest; replicas: number }
  | { kind: 'weights'; weights: Record<string, number> }
  /** Run one analysis interval and feed the result back in the next Observation. */
  | { kind: 'analyze'; spec: AnalysisSpec; baseline: Digest | null; canary: Digest }
  /** Nothing to do until `until` (null: until something changes). */
  | { kind: 'wait'; until: Date | null; reason: string }
  | { kind: 'complete' }
  | { kind: 'rollback'; reason: string };

/** What the strategy needs of a service. */
export type RolloutSpec = Pick<ServiceSpec, 'replicas' | 'strategy'>;

/** The state a rollout of `target` starts in; without a stable release every strategy just starts `target`. */
export function initialState(spec: RolloutSpec, stable: Digest | null, target: Digest, now: Date): RolloutState {
  const first = stable === null || stable === target;
  const kind = spec.strategy.kind;
  return {
    strategy: kind,
    stable: first ? null : stable,
    target,
    replicas: spec.replicas,
    stepIndex: first ? promoteIndex(spec) : 0,
    phase: first ? 'promoting' : 'progressing',
    weights: first ? {} : { [stable]: 100, [target]: 0 },
    pausedUntil: null,
    pauseReason: null,
    analysis: null,
    message: first
      ? `first release: starting ${spec.replicas} instance(s) of ${short(target)}`
      : `${kind} rollout from ${short(stable)} to ${short(target)} started ${now.toISOString()}`,
  };
}

/** Applies the commands and the analysis result, advances as far as it can and says what to do now. */
export function step(
  spec: RolloutSpec,
  previous: RolloutState,
  obs: Observation,
): { state: RolloutState; actions: Action[] } {
  const s: RolloutState = structuredClone(previous);
  s.replicas = spec.replicas;
  if (spec.strategy.kind !== s.strategy && !isTerminal(s.phase) && s.phase !== 'promoting') {
    // The environment was re-applied with another strategy mid-rollout; the steps no longer apply.
    promote(spec, s, `strategy changed from ${s.strategy} to ${spec.strategy.kind} during the rollout; promoting`);
    s.strategy = spec.strategy.kind;
  }
  for (const command of obs.commands) if (!isTerminal(s.phase)) applyCommand(spec, s, command);
  if (!isTerminal(s.phase)) ingest(s, obs);
  const tail: Action[] = [];
  for (let guard = 0; guard < 1000 && !isTerminal(s.phase); guard++) {
    const blocked = advance(spec, s, obs);
    if (blocked !== null) {
      tail.push(...blocked);
      break;
    }
  }
  if (s.phase === 'completed') tail.push({ kind: 'complete' });
  if (s.phase === 'aborted' || s.phase === 'rolledBack') tail.push({ kind: 'rollback', reason: s.message });
  return { state: s, actions: [...scaleAndWeights(spec, s, obs), ...tail] };
}

function applyCommand(spec: RolloutSpec, s: RolloutState, command: Command): void {
  switch (command) {
    case 'abort':
      rollback(s, 'aborted', 'aborted by command');
      return;
    case 'promote':
      if (s.phase !== 'promoting') promote(spec, s, 'promoted by command: skipping the remaining steps');
      return;
    case 'pause':
      if (s.phase === 'paused' && s.pauseReason === USER_PAUSE) return;
      if (s.stepIndex < promoteIndex(spec)) s.pausedUntil = null;
      s.phase = 'paused';
      s.pauseReason = USER_PAUSE;
      s.message = USER_PAUSE;
      return;
    case 'resume': {
      if (s.phase !== 'paused') return;
      const index = promoteIndex(spec);
      if (s.stepIndex < index) {
        if (isPauseStep(spec, s.stepIndex)) next(spec, s);
        s.pausedUntil = null;
      }
      s.pauseReason = null;
      if (s.analysis !== null) s.analysis.runs = s.analysis.runs.filter((r) => !r.inconclusive);
      s.phase =
        s.stepIndex >= index
          ? 'promoting'
          : analysisAt(spec, s.stepIndex) !== null && s.analysis !== null
            ? 'analyzing'
            : 'progressing';
      s.message = 'resumed by command';
      return;
    }
  }
}

// Credits an analysis result to the analysis in progress, once: results from before it started are dropped.
function ingest(s: RolloutState, obs: Observation): void {
  const result = obs.analysis;
  if (result === undefined || s.analysis === null) return;
  const at = result.at ?? obs.now.toISOString();
  if (Date.parse(at) <= Date.parse(s.analysis.startedAt)) return;
  if (s.analysis.runs.some((r) => r.at === at)) return;
  s.analysis.runs.push({ ...result, at });
}
