import type { AnalysisRunResult } from './analysis.ts';
import type { AnalysisSpec } from './environment-spec.ts';
import type { Action, Observation, RolloutSpec, RolloutState } from './strategy.ts';
import { analysisAt, next, pause, rollback } from './strategy-transitions.ts';

/**
 * The analysis gates of a rollout: a step's own analysis (blue-green before promotion, a canary analysis
 * step) and the canary's background analysis, and the verdict both draw from the runs so far. Pure, like the
 * state machine that calls them; the reconciler runs the analysis intervals they ask for.
 */

export function analyzing(
  spec: RolloutSpec,
  s: RolloutState,
  obs: Observation,
  analysis: AnalysisSpec | null,
): Action[] | null {
  if (analysis === null) return next(spec, s);
  if (s.phase !== 'analyzing' || s.analysis === null) {
    s.phase = 'analyzing';
    s.analysis = { startedAt: obs.now.toISOString(), runs: [] };
  }
  const verdict = judge(analysis, s.analysis.runs, false);
  switch (verdict.kind) {
    case 'failed':
      rollback(s, 'rolledBack', verdict.reason);
      return null;
    case 'passed':
      s.phase = 'progressing';
      s.message = verdict.reason;
      return next(spec, s);
    case 'inconclusive':
      return pause(s, null, verdict.reason);
    case 'running':
      s.message = verdict.reason;
      return [{ kind: 'analyze', spec: analysis, baseline: s.stable, canary: s.target }];
  }
}

// The canary's background analysis: runs while traffic reaches the canary, between and during steps.
export function backgroundAnalysis(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] | 'failed' {
  const analysis = spec.strategy.kind === 'canary' ? spec.strategy.analysis : null;
  // A step's own analysis takes the place of the background one while it runs (even when paused).
  if (analysis === null || analysisAt(spec, s.stepIndex) !== null || (s.weights[s.target] ?? 0) === 0) return [];
  s.analysis ??= { startedAt: obs.now.toISOString(), runs: [] };
  const verdict = judge(analysis, s.analysis.runs, true);
  if (verdict.kind === 'failed') {
    rollback(s, 'rolledBack', `background ${verdict.reason}`);
    return 'failed';
  }
  return [{ kind: 'analyze', spec: analysis, baseline: s.stable, canary: s.target }];
}

type Verdict = { kind: 'failed' | 'passed' | 'inconclusive' | 'running'; reason: string };

function judge(spec: AnalysisSpec, runs: readonly AnalysisRunResult[], background: boolean): Verdict {
  const conclusive = runs.filter((r) => !r.inconclusive);
  const failed = conclusive.filter((r) => !r.passed);
  if (failed.length > spec.failureLimit) {
    const why = failed
      .at(-1)!
      .checks.filter((c) => !c.passed)
      .map((c) => c.detail)
      .join('; ');
    return {
      kind: 'failed',
      reason: `analysis failed: ${failed.length} of ${conclusive.length} run(s) failed (limit ${spec.failureLimit}): ${why}`,
    };
  }
  if (!background && conclusive.length >= spec.count)
    return {
      kind: 'passed',
      reason: `analysis passed: ${conclusive.length - failed.length} of ${conclusive.length} runs`,
    };
  let trailing = 0;
  while (trailing < runs.length && runs[runs.length - 1 - trailing]!.inconclusive) trailing++;
  if (!background && trailing >= spec.inconclusiveLimit)
    return {
      kind: 'inconclusive',
      reason: `analysis inconclusive: ${trailing} windows in a row had fewer than ${spec.minRequests} requests; resume to keep analysing`,
    };
  return {
    kind: 'running',
    reason: `analysing: ${conclusive.length} of ${spec.count} runs, ${failed.length} failed`,
  };
}
