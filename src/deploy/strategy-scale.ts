import type { Digest } from '../core/index.ts';
import type { Action, Observation, ReleaseCounts, RolloutSpec, RolloutState } from './strategy.ts';

/**
 * How many instances of each release a rollout wants at its current step, and in what order to scale and
 * shift traffic. Pure, like the state machine that calls it.
 */

// Desired scale of both releases, with weights between the scale-ups and the scale-downs so traffic never
// points at instances about to stop.
export function scaleAndWeights(spec: RolloutSpec, s: RolloutState, obs: Observation): Action[] {
  const { target, stable } = desiredScale(spec, s, obs);
  const scales: Array<{ kind: 'scale'; release: Digest; replicas: number }> = [
    { kind: 'scale', release: s.target, replicas: target },
  ];
  if (s.stable !== null && stable !== null) scales.push({ kind: 'scale', release: s.stable, replicas: stable });
  const up = scales.filter((a) => a.replicas >= count(obs, a.release).total);
  const down = scales.filter((a) => a.replicas < count(obs, a.release).total);
  const weights: Action[] = Object.keys(s.weights).length > 0 ? [{ kind: 'weights', weights: { ...s.weights } }] : [];
  return [...up, ...weights, ...down];
}

export function desiredScale(
  spec: RolloutSpec,
  s: RolloutState,
  obs: Observation,
): { target: number; stable: number | null } {
  const replicas = spec.replicas;
  if (s.stable === null)
    return { target: s.phase === 'aborted' || s.phase === 'rolledBack' ? 0 : replicas, stable: null };
  const stable = count(obs, s.stable);
  switch (s.phase) {
    case 'completed':
      return { target: replicas, stable: 0 };
    case 'aborted':
    case 'rolledBack':
      return { target: 0, stable: replicas };
    case 'promoting': {
      const hold = spec.strategy.kind === 'rolling' ? Math.min(replicas, stable.total) : replicas;
      const delayed = s.pausedUntil !== null && obs.now < new Date(s.pausedUntil);
      return { target: replicas, stable: s.weights[s.target] === 100 && !delayed ? 0 : hold };
    }
    default:
      break;
  }
  if (s.stepIndex >= promoteIndex(spec)) {
    // Paused by command during promotion: hold what runs.
    return { target: replicas, stable: Math.min(replicas, stable.total) };
  }
  switch (spec.strategy.kind) {
    case 'rolling': {
      const target = count(obs, s.target);
      if (s.phase === 'paused') return { target: target.total, stable: stable.total };
      const { surge, unavailable } = rollingBounds(spec.strategy.maxSurge, spec.strategy.maxUnavailable, replicas);
      // Unready old instances go first; ready ones only while enough instances stay ready.
      const removable = Math.max(0, stable.ready + target.ready - (replicas - unavailable));
      const keep = Math.max(0, Math.min(stable.ready - removable, replicas - target.ready));
      return { target: Math.max(0, Math.min(replicas, replicas + surge - keep)), stable: keep };
    }
    case 'blueGreen':
      return { target: replicas, stable: replicas };
    case 'canary':
      return { target: canaryScale(spec, s.stepIndex), stable: replicas };
  }
}

/** maxSurge and maxUnavailable in instances: percentages round up for surge and down for unavailable. */
export function rollingBounds(
  maxSurge: number | string,
  maxUnavailable: number | string,
  replicas: number,
): { surge: number; unavailable: number } {
  const resolve = (v: number | string, round: (x: number) => number) =>
    typeof v === 'number' ? v : round((Number.parseInt(v, 10) * replicas) / 100);
  const surge = resolve(maxSurge, Math.ceil);
  const unavailable = resolve(maxUnavailable, Math.floor);
  // As Kubernetes does: when both round to 0 the rollout could never move, so one instance may be unavailable.
  return { surge, unavailable: surge === 0 && unavailable === 0 ? 1 : Math.min(unavailable, replicas) };
}

// Canary instances for the latest setWeight at or before `index`: enough to carry the weight, at least one.
export function canaryScale(spec: RolloutSpec, index: number): number {
  if (spec.strategy.kind !== 'canary') return spec.replicas;
  for (let i = Math.min(index, spec.strategy.steps.length - 1); i >= 0; i--) {
    const st = spec.strategy.steps[i]!;
    if (st.kind === 'setWeight') return Math.max(1, Math.ceil((spec.replicas * st.weight) / 100));
  }
  return 0;
}

export function promoteIndex(spec: RolloutSpec): number {
  switch (spec.strategy.kind) {
    case 'rolling':
      return 1;
    case 'blueGreen':
      return 3;
    case 'canary':
      return spec.strategy.steps.length;
  }
}

export function count(obs: Observation, release: Digest): ReleaseCounts {
  return obs.counts[release] ?? { ready: 0, starting: 0, total: 0 };
}
