import type { Digest } from '../core/index.ts';
import type { AnalysisSpec } from './environment-spec.ts';
import type { Action, Phase, RolloutSpec, RolloutState } from './strategy.ts';
import { promoteIndex } from './strategy-scale.ts';

/**
 * The transitions every strategy shares: what a step index holds, moving to the next step, pausing,
 * promoting, completing and rolling back, and the wording of the messages they leave. Pure; each changes the
 * state in place and the state machine decides when to call it.
 */

export const USER_PAUSE = 'paused by command';

export function isPauseStep(spec: RolloutSpec, index: number): boolean {
  if (spec.strategy.kind === 'blueGreen') return index === 2;
  return spec.strategy.kind === 'canary' && spec.strategy.steps[index]?.kind === 'pause';
}

export function analysisAt(spec: RolloutSpec, index: number): AnalysisSpec | null {
  if (spec.strategy.kind === 'blueGreen') return index === 1 ? spec.strategy.prePromotionAnalysis : null;
  if (spec.strategy.kind !== 'canary') return null;
  const st = spec.strategy.steps[index];
  return st?.kind === 'analysis' ? st.analysis : null;
}

// Moves to the next step; an analysis record ends with its step, and a step's analysis starts afresh.
export function next(spec: RolloutSpec, s: RolloutState): null {
  if (analysisAt(spec, s.stepIndex) !== null || analysisAt(spec, s.stepIndex + 1) !== null) s.analysis = null;
  s.stepIndex++;
  if (s.phase === 'analyzing') s.phase = 'progressing';
  return null;
}

export function pause(s: RolloutState, until: Date | null, reason: string): null {
  s.phase = 'paused';
  s.pausedUntil = until === null ? null : until.toISOString();
  s.pauseReason = reason;
  s.message = reason;
  return null;
}

export function promote(spec: RolloutSpec, s: RolloutState, message: string): void {
  s.phase = 'promoting';
  s.stepIndex = promoteIndex(spec);
  s.analysis = null;
  s.pausedUntil = null;
  s.pauseReason = null;
  s.message = message;
}

export function complete(s: RolloutState): null {
  s.phase = 'completed';
  s.weights = { [s.target]: 100 };
  s.pausedUntil = null;
  s.pauseReason = null;
  s.message = `completed: ${short(s.target)} serves all traffic`;
  return null;
}

export function rollback(s: RolloutState, phase: 'aborted' | 'rolledBack', reason: string): void {
  s.phase = phase;
  s.weights = s.stable === null ? {} : { [s.stable]: 100 };
  s.pausedUntil = null;
  s.pauseReason = null;
  s.message = reason;
}

export function wait(s: RolloutState, until: Date | null, reason: string): Action {
  s.message = reason;
  return { kind: 'wait', until, reason };
}

export function split(stable: Digest, target: Digest, weight: number): Record<string, number> {
  return { [stable]: 100 - weight, [target]: weight };
}

export function isTerminal(phase: Phase): boolean {
  return phase === 'completed' || phase === 'aborted' || phase === 'rolledBack';
}

export function short(release: Digest): string {
  return release.slice(release.indexOf(':') + 1, release.indexOf(':') + 13);
}

export function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
