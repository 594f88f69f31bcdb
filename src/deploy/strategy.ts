import type { Digest } from '../core/index.ts';
import type { AnalysisRunResult } from './analysis.ts';
import type { AnalysisSpec, ServiceSpec } from './environment-spec.ts';
import { canaryScale, count, promoteIndex, scaleAndWeights } from './strategy-scale.ts';

export { rollingBounds } from './strategy-scale.ts';

/**
 * The rollout state machine (modelled on Argo Rollouts). Pure: the reconciler observes instances, commands and
 * analysis results, calls `step`, stores the state and carries out the actions. `step` runs until it is blocked,
 * so calling it again with the same observation gives the same state and actions: a reconciler that crashed
 * after applying some actions resumes by stepping again.
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

const USER_PAUSE = 'paused by command';

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

// One move of the machine; returns the actions it is blocked on, or null once the state moved on.
function advance(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] | null {
  if (s.phase === 'promoting') return promoting(spec, s, obs);
  const background = backgroundAnalysis(spec, s, obs);
  if (background === 'failed') return null;
  if (s.phase === 'paused') {
    const until = s.pausedUntil === null ? null : new Date(s.pausedUntil);
    if (s.pauseReason !== USER_PAUSE && until !== null && obs.now >= until) {
      s.pausedUntil = null;
      s.pauseReason = null;
      s.phase = 'progressing';
      next(spec, s);
      return null;
    }
    return [...background, wait(s, until, s.pauseReason ?? 'paused')];
  }
  if (s.stepIndex >= promoteIndex(spec)) {
    promote(spec, s, 'all steps done; promoting');
    return null;
  }
  const strategy = spec.strategy;
  switch (strategy.kind) {
    case 'rolling':
      return rolling(spec, s, obs);
    case 'blueGreen': {
      if (s.stepIndex === 0) {
        const ready = count(obs, s.target).ready;
        if (ready < spec.replicas)
          return [wait(s, null, `preview: ${ready} of ${spec.replicas} instances of ${short(s.target)} ready`)];
        return next(spec, s);
      }
      if (s.stepIndex === 1) return analyzing(spec, s, obs, strategy.prePromotionAnalysis);
      if (strategy.autoPromote) return next(spec, s);
      return pause(s, null, `preview of ${short(s.target)} ready; waiting for promote`);
    }
    case 'canary': {
      const current = strategy.steps[s.stepIndex]!;
      const at = `step ${s.stepIndex + 1}/${strategy.steps.length}`;
      switch (current.kind) {
        case 'setWeight': {
          const wanted = canaryScale(spec, s.stepIndex);
          const ready = count(obs, s.target).ready;
          if (ready < wanted)
            return [
              ...background,
              wait(s, null, `${at}: ${ready} of ${wanted} canary instance(s) ready before weight ${current.weight}%`),
            ];
          s.weights = s.stable === null ? { [s.target]: 100 } : split(s.stable, s.target, current.weight);
          s.message = `${at}: canary weight ${current.weight}%`;
          return next(spec, s);
        }
        case 'pause':
          return current.durationMs === null
            ? pause(s, null, `${at}: waiting for approval (resume)`)
            : pause(
                s,
                new Date(obs.now.getTime() + current.durationMs),
                `${at}: pause ${duration(current.durationMs)}`,
              );
        case 'analysis':
          return analyzing(spec, s, obs, current.analysis);
      }
    }
  }
}

function rolling(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] | null {
  const target = count(obs, s.target);
  const stable = s.stable === null ? null : count(obs, s.stable);
  if (s.stable !== null && stable !== null && stable.ready + target.ready > 0)
    s.weights = split(s.stable, s.target, Math.round((100 * target.ready) / (stable.ready + target.ready)));
  if (target.ready >= spec.replicas && (stable?.total ?? 0) === 0) {
    complete(s);
    return null;
  }
  const reason = `rolling: ${target.ready} of ${spec.replicas} new ready, ${stable?.total ?? 0} old left`;
  return [wait(s, null, reason)];
}

function analyzing(
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
function backgroundAnalysis(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] | 'failed' {
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

// Full promotion: the target at full scale, then all traffic, then (after any scale-down delay) no stable.
function promoting(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] | null {
  const ready = count(obs, s.target).ready;
  if (s.stable === null) {
    if (ready > 0) s.weights = { [s.target]: 100 };
    if (ready >= spec.replicas) return complete(s);
    return [wait(s, null, `${ready} of ${spec.replicas} instances of ${short(s.target)} ready`)];
  }
  if (s.weights[s.target] !== 100) {
    if (ready < spec.replicas)
      return [wait(s, null, `promoting: ${ready} of ${spec.replicas} instances of ${short(s.target)} ready`)];
    s.weights = { [s.target]: 100 };
    const delay = spec.strategy.kind === 'blueGreen' ? spec.strategy.scaleDownDelayMs : 0;
    s.pausedUntil = delay > 0 ? new Date(obs.now.getTime() + delay).toISOString() : null;
    s.pauseReason = delay > 0 ? `scale-down delay ${duration(delay)}` : null;
    s.message = `all traffic on ${short(s.target)}`;
    return null;
  }
  if (s.pausedUntil !== null && obs.now < new Date(s.pausedUntil))
    return [wait(s, new Date(s.pausedUntil), `keeping ${short(s.stable)} for the scale-down delay`)];
  s.pausedUntil = null;
  s.pauseReason = null;
  const left = count(obs, s.stable).total;
  if (left > 0) return [wait(s, null, `stopping ${left} instance(s) of ${short(s.stable)}`)];
  return complete(s);
}

function isPauseStep(spec: RolloutSpec, index: number): boolean {
  if (spec.strategy.kind === 'blueGreen') return index === 2;
  return spec.strategy.kind === 'canary' && spec.strategy.steps[index]?.kind === 'pause';
}

function analysisAt(spec: RolloutSpec, index: number): AnalysisSpec | null {
  if (spec.strategy.kind === 'blueGreen') return index === 1 ? spec.strategy.prePromotionAnalysis : null;
  if (spec.strategy.kind !== 'canary') return null;
  const st = spec.strategy.steps[index];
  return st?.kind === 'analysis' ? st.analysis : null;
}

// Moves to the next step; an analysis record ends with its step, and a step's analysis starts afresh.
function next(spec: RolloutSpec, s: RolloutState): null {
  if (analysisAt(spec, s.stepIndex) !== null || analysisAt(spec, s.stepIndex + 1) !== null) s.analysis = null;
  s.stepIndex++;
  if (s.phase === 'analyzing') s.phase = 'progressing';
  return null;
}

function pause(s: RolloutState, until: Date | null, reason: string): null {
  s.phase = 'paused';
  s.pausedUntil = until === null ? null : until.toISOString();
  s.pauseReason = reason;
  s.message = reason;
  return null;
}

function promote(spec: RolloutSpec, s: RolloutState, message: string): void {
  s.phase = 'promoting';
  s.stepIndex = promoteIndex(spec);
  s.analysis = null;
  s.pausedUntil = null;
  s.pauseReason = null;
  s.message = message;
}

function complete(s: RolloutState): null {
  s.phase = 'completed';
  s.weights = { [s.target]: 100 };
  s.pausedUntil = null;
  s.pauseReason = null;
  s.message = `completed: ${short(s.target)} serves all traffic`;
  return null;
}

function rollback(s: RolloutState, phase: 'aborted' | 'rolledBack', reason: string): void {
  s.phase = phase;
  s.weights = s.stable === null ? {} : { [s.stable]: 100 };
  s.pausedUntil = null;
  s.pauseReason = null;
  s.message = reason;
}

function wait(s: RolloutState, until: Date | null, reason: string): Action {
  s.message = reason;
  return { kind: 'wait', until, reason };
}

function split(stable: Digest, target: Digest, weight: number): Record<string, number> {
  return { [stable]: 100 - weight, [target]: weight };
}

function isTerminal(phase: Phase): boolean {
  return phase === 'completed' || phase === 'aborted' || phase === 'rolledBack';
}

function short(release: Digest): string {
  return release.slice(release.indexOf(':') + 1, release.indexOf(':') + 13);
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
