import type { Action, Observation, RolloutSpec, RolloutState } from './strategy.ts';
import { analyzing, backgroundAnalysis } from './strategy-analysis.ts';
import { canaryScale, count, promoteIndex } from './strategy-scale.ts';
import { complete, duration, next, pause, promote, short, split, USER_PAUSE, wait } from './strategy-transitions.ts';

/**
 * The moves of the rollout state machine: one call of `advance` takes the rollout one move on, by its
 * strategy's rules (rolling, blue-green, canary), or through the full promotion all strategies end with. Pure;
 * `step` calls it until it says what the rollout is blocked on.
 */

// One move of the machine; returns the actions it is blocked on, or null once the state moved on.
export function advance(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] | null {
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
