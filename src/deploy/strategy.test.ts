import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../core/index.ts';
import type { AnalysisRunResult } from './analysis.ts';
import { parseEnvironmentSpec, type ServiceSpec } from './environment-spec.ts';
import {
  type Action,
  type Command,
  initialState,
  type Observation,
  type ReleaseCounts,
  type RolloutState,
  rollingBounds,
  step,
} from './strategy.ts';

const OLD = `sha256:${'a'.repeat(64)}` as Digest;
const NEW = `sha256:${'b'.repeat(64)}` as Digest;
const T0 = new Date('2025-01-01T00:00:00Z');

function service(strategy: unknown, replicas = 3): ServiceSpec {
  const env = parseEnvironmentSpec({
    apiVersion: 'fixity.dev/v1',
    kind: 'Environment',
    name: 'staging',
    stage: 'staging',
    services: [{ name: 'hello', image: { repository: 'hello', stage: 'staging' }, replicas, strategy }],
  });
  return env.services[0]!;
}

const ANALYSIS = { intervalMs: 1000, count: 2, failureLimit: 0, minRequests: 1 };
const pass = (): AnalysisRunResult => ({
  passed: true,
  inconclusive: false,
  metrics: { requests: 100, successRate: 1, p50Ms: 10, p99Ms: 20 },
  checks: [{ name: 'successRate', passed: true, detail: 'success rate 100.00% ≥ 99.00%' }],
});
const fail = (): AnalysisRunResult => ({
  passed: false,
  inconclusive: false,
  metrics: { requests: 100, successRate: 1, p50Ms: 10, p99Ms: 612 },
  checks: [{ name: 'p99', passed: false, detail: 'p99 612 ms > 500 ms' }],
});
const inconclusive = (): AnalysisRunResult => ({
  passed: false,
  inconclusive: true,
  metrics: { requests: 1, successRate: 1, p50Ms: 10, p99Ms: 10 },
  checks: [{ name: 'requests', passed: false, detail: '1 requests < 20 needed; inconclusive' }],
});

/**
 * A perfect reconciler: instances it creates are ready one tick later, stops are immediate, an analysis
 * asked for comes back on the next tick from `analyses`, and the clock moves `tickMs` per tick.
 */
function simulate(
  spec: ServiceSpec,
  options: {
    stable?: Digest | null;
    ticks?: number;
    tickMs?: number;
    analyses?: () => AnalysisRunResult;
    commands?: Record<number, Command[]>;
    until?: (s: RolloutState) => boolean;
  } = {},
) {
  const stable = options.stable === undefined ? OLD : options.stable;
  const counts: Record<string, ReleaseCounts> = {};
  if (stable !== null) counts[stable] = { ready: spec.replicas, starting: 0, total: spec.replicas };
  let state = initialState(spec, stable, NEW, T0);
  let pending: AnalysisRunResult | undefined;
  let weights: Record<string, number> = {};
  const trace: Array<{ tick: number; phase: string; stepIndex: number; weights: Record<string, number> }> = [];
  const log: Action[][] = [];
  for (let tick = 0; tick < (options.ticks ?? 60); tick++) {
    for (const c of Object.values(counts)) {
      c.ready += c.starting;
      c.starting = 0;
    }
    const now = new Date(T0.getTime() + tick * (options.tickMs ?? 1000));
    const obs: Observation = { now, counts: structuredClone(counts), commands: options.commands?.[tick] ?? [] };
    if (pending !== undefined) obs.analysis = { ...pending, at: now.toISOString() };
    pending = undefined;
    const out = step(spec, state, obs);
    state = out.state;
    log.push(out.actions);
    for (const a of out.actions) {
      if (a.kind === 'scale') {
        counts[a.release] ??= { ready: 0, starting: 0, total: 0 };
        const c = counts[a.release]!;
        if (a.replicas > c.total) c.starting += a.replicas - c.total;
        else {
          const drop = c.total - a.replicas;
          const fromStarting = Math.min(drop, c.starting);
          c.starting -= fromStarting;
          c.ready -= drop - fromStarting;
        }
        c.total = a.replicas;
      }
      if (a.kind === 'weights') {
        weights = a.weights;
        assert.equal(
          Object.values(a.weights).reduce((x, y) => x + y, 0),
          100,
        );
      }
      if (a.kind === 'analyze') pending = options.analyses?.() ?? pass();
    }
    trace.push({ tick, phase: state.phase, stepIndex: state.stepIndex, weights });
    if (options.until?.(state)) break;
    if (state.phase === 'completed' || state.phase === 'rolledBack' || state.phase === 'aborted') break;
  }
  return { state, counts, trace, log, weights };
}

describe('initialState()', () => {
  it('initialState() goes straight to promotion when there is no stable release', () => {
    const s = initialState(service({ canary: { steps: [{ setWeight: 20 }] } }), null, NEW, T0);
    assert.equal(s.phase, 'promoting');
    assert.equal(s.stable, null);
    assert.deepEqual(s.weights, {});
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s, 'JSON-serialisable');
  });
});

describe('step() first deploy', () => {
  it('step() starts replicas, routes once one is ready and completes when all are', () => {
    const spec = service({ canary: { steps: [{ setWeight: 20 }, { pause: { untilApproved: true } }] } });
    const s0 = initialState(spec, null, NEW, T0);
    const first = step(spec, s0, { now: T0, counts: {}, commands: [] });
    assert.deepEqual(first.actions[0], { kind: 'scale', release: NEW, replicas: 3 });
    assert.ok(!first.actions.some((a) => a.kind === 'weights'));
    const some = step(spec, first.state, {
      now: T0,
      counts: { [NEW]: { ready: 1, starting: 2, total: 3 } },
      commands: [],
    });
    assert.deepEqual(some.state.weights, { [NEW]: 100 });
    assert.equal(some.state.phase, 'promoting');
    const all = step(spec, some.state, {
      now: T0,
      counts: { [NEW]: { ready: 3, starting: 0, total: 3 } },
      commands: [],
    });
    assert.equal(all.state.phase, 'completed');
    assert.deepEqual(all.actions.at(-1), { kind: 'complete' });
  });
});

describe('step() rolling', () => {
  it('step() rolls 3 replicas one at a time, never below 3 ready nor above 4 instances', () => {
    const spec = service({ rolling: { maxSurge: 1, maxUnavailable: 0 } });
    const { state, trace, log, counts } = simulate(spec);
    assert.equal(state.phase, 'completed');
    assert.deepEqual(counts[OLD], { ready: 0, starting: 0, total: 0 });
    assert.deepEqual(counts[NEW], { ready: 3, starting: 0, total: 3 });
    for (const actions of log) {
      const wanted = actions.filter((a) => a.kind === 'scale').reduce((n, a) => n + a.replicas, 0);
      assert.ok(wanted <= 4, `at most replicas + maxSurge instances, got ${wanted}`);
    }
    const weightsSeen = trace.map((t) => t.weights[NEW]);
    assert.deepEqual(
      [...new Set(weightsSeen)],
      [0, 25, 50, 75, 100].filter((w) => weightsSeen.includes(w)),
    );
    assert.ok(weightsSeen.includes(100));
  });

  it('step() with maxUnavailable stops an old instance before the new one is ready', () => {
    const spec = service({ rolling: { maxSurge: 0, maxUnavailable: 1 } });
    const s0 = initialState(spec, OLD, NEW, T0);
    const { actions } = step(spec, s0, {
      now: T0,
      counts: { [OLD]: { ready: 3, starting: 0, total: 3 } },
      commands: [],
    });
    assert.deepEqual(
      actions.filter((a) => a.kind === 'scale'),
      [
        { kind: 'scale', release: NEW, replicas: 1 },
        { kind: 'scale', release: OLD, replicas: 2 },
      ],
    );
  });

  it('rollingBounds() rounds surge up, unavailable down, and never leaves both 0', () => {
    assert.deepEqual(rollingBounds('25%', '25%', 10), { surge: 3, unavailable: 2 });
    assert.deepEqual(rollingBounds('10%', '10%', 3), { surge: 1, unavailable: 0 });
    assert.deepEqual(rollingBounds(0, '10%', 3), { surge: 0, unavailable: 1 });
  });
});

const CANARY = {
  canary: {
    steps: [{ setWeight: 20 }, { pause: { durationMs: 10_000 } }, { setWeight: 50 }, { analysis: ANALYSIS }],
  },
};

describe('step() canary', () => {
  it('step() walks setWeight, a timed pause and a passing analysis, then promotes', () => {
    const spec = service(CANARY, 4);
    const { state, trace, counts } = simulate(spec);
    assert.equal(state.phase, 'completed');
    const w = trace.map((t) => t.weights[NEW] ?? 0);
    assert.ok(w.includes(20) && w.includes(50) && w.includes(100));
    // 10 s pause at 1 s per tick: weight 20 held for at least 10 ticks
    assert.ok(w.filter((x) => x === 20).length >= 10);
    assert.deepEqual(counts[NEW], { ready: 4, starting: 0, total: 4 });
    assert.equal(counts[OLD]!.total, 0);
  });

  it('step() scales the canary to ceil(replicas × weight) before shifting traffic', () => {
    const spec = service(CANARY, 4);
    const s0 = initialState(spec, OLD, NEW, T0);
    const stable = { ready: 4, starting: 0, total: 4 };
    const a = step(spec, s0, { now: T0, counts: { [OLD]: stable }, commands: [] });
    assert.deepEqual(a.actions[0], { kind: 'scale', release: NEW, replicas: 1 });
    assert.equal(a.state.weights[NEW], 0);
    assert.equal(a.actions.at(-1)!.kind, 'wait');
    const b = step(spec, a.state, {
      now: T0,
      counts: { [OLD]: stable, [NEW]: { ready: 1, starting: 0, total: 1 } },
      commands: [],
    });
    assert.deepEqual(b.state.weights, { [OLD]: 80, [NEW]: 20 });
    assert.equal(b.state.phase, 'paused');
    assert.equal(b.state.pausedUntil, '2025-01-01T00:00:10.000Z');
    assert.deepEqual(b.actions.at(-1), {
      kind: 'wait',
      until: new Date('2025-01-01T00:00:10Z'),
      reason: 'step 2/4: pause 10s',
    });
  });

  it('step() rolls back when failed runs exceed failureLimit', () => {
    const spec = service(CANARY, 4);
    const { state, counts, log, weights } = simulate(spec, { analyses: fail });
    assert.equal(state.phase, 'rolledBack');
    assert.match(state.message, /analysis failed: 1 of 1 run\(s\) failed \(limit 0\): p99 612 ms > 500 ms/);
    assert.deepEqual(weights, { [OLD]: 100 });
    assert.equal(counts[NEW]!.total, 0);
    assert.equal(counts[OLD]!.total, 4);
    assert.deepEqual(log.at(-1)!.at(-1), { kind: 'rollback', reason: state.message });
  });

  it('step() does not count inconclusive runs and pauses after inconclusiveLimit of them', () => {
    const spec = service({
      canary: { steps: [{ setWeight: 50 }, { analysis: { ...ANALYSIS, inconclusiveLimit: 3 } }] },
    });
    const { state } = simulate(spec, { analyses: inconclusive, until: (s) => s.phase === 'paused' });
    assert.equal(state.phase, 'paused');
    assert.match(state.pauseReason!, /3 windows in a row had fewer than 1 requests/);
    assert.equal(state.analysis!.runs.length, 3);
    const resumed = step(spec, state, { now: new Date(T0.getTime() + 100_000), counts: {}, commands: ['resume'] });
    assert.equal(resumed.state.phase, 'analyzing');
    assert.equal(resumed.state.analysis!.runs.length, 0);
    assert.equal(resumed.actions.at(-1)!.kind, 'analyze');
  });

  it('step() holds a pause untilApproved until resume', () => {
    const spec = service({ canary: { steps: [{ setWeight: 30 }, { pause: { untilApproved: true } }] } });
    const held = simulate(spec, { ticks: 20 });
    assert.equal(held.state.phase, 'paused');
    assert.match(held.state.pauseReason!, /waiting for approval/);
    const approved = simulate(spec, { commands: { 10: ['resume'] } });
    assert.equal(approved.state.phase, 'completed');
    assert.ok(approved.trace.findIndex((t) => t.weights[NEW] === 100) > 10);
  });

  it('step() aborts on command: traffic back to stable, canary scaled to 0', () => {
    const spec = service({ canary: { steps: [{ setWeight: 30 }, { pause: { untilApproved: true } }] } });
    const { state, counts, weights } = simulate(spec, { commands: { 5: ['abort'] } });
    assert.equal(state.phase, 'aborted');
    assert.equal(state.message, 'aborted by command');
    assert.deepEqual(weights, { [OLD]: 100 });
    assert.equal(counts[NEW]!.total, 0);
  });

  it('step() skips the remaining steps on promote', () => {
    const spec = service({ canary: { steps: [{ setWeight: 10 }, { pause: { durationMs: 3_600_000 } }] } });
    const { state, trace } = simulate(spec, { commands: { 3: ['promote'] } });
    assert.equal(state.phase, 'completed');
    assert.ok(trace.length < 15);
  });

  it('step() pause and resume by command hold a canary between steps', () => {
    const spec = service({ canary: { steps: [{ setWeight: 10 }, { setWeight: 60 }] } });
    const paused = simulate(spec, { commands: { 0: ['pause'] }, ticks: 10 });
    assert.equal(paused.state.phase, 'paused');
    assert.equal(paused.state.pauseReason, 'paused by command');
    const resumed = simulate(spec, { commands: { 0: ['pause'], 5: ['resume'] } });
    assert.equal(resumed.state.phase, 'completed');
    assert.ok(resumed.trace.slice(0, 5).every((t) => t.phase === 'paused'));
  });

  it('step() runs background analysis once the canary takes traffic and rolls back on failure', () => {
    const spec = service({
      canary: { steps: [{ setWeight: 20 }, { pause: { untilApproved: true } }], analysis: ANALYSIS },
    });
    const s0 = initialState(spec, OLD, NEW, T0);
    const counts = { [OLD]: { ready: 3, starting: 0, total: 3 }, [NEW]: { ready: 1, starting: 0, total: 1 } };
    const a = step(spec, s0, { now: T0, counts, commands: [] });
    assert.equal(a.state.phase, 'paused');
    assert.deepEqual(
      a.actions.find((x) => x.kind === 'analyze'),
      {
        kind: 'analyze',
        spec: spec.strategy.kind === 'canary' ? spec.strategy.analysis : null,
        baseline: OLD,
        canary: NEW,
      },
    );
    const later = new Date(T0.getTime() + 1000);
    const b = step(spec, a.state, { now: later, counts, commands: [], analysis: fail() });
    assert.equal(b.state.phase, 'rolledBack');
    assert.match(b.state.message, /^background analysis failed/);
  });
});

describe('step() blue-green', () => {
  it('step() previews at weight 0, waits for promote, switches and keeps the old release for the delay', () => {
    const spec = service({ blueGreen: { scaleDownDelayMs: 5000, prePromotionAnalysis: ANALYSIS } });
    const held = simulate(spec, { ticks: 20 });
    assert.equal(held.state.phase, 'paused');
    assert.equal(held.state.stepIndex, 2);
    assert.deepEqual(held.weights, { [OLD]: 100, [NEW]: 0 });
    assert.deepEqual(held.counts[NEW], { ready: 3, starting: 0, total: 3 });

    const { state, trace, counts } = simulate(spec, { commands: { 10: ['promote'] } });
    assert.equal(state.phase, 'completed');
    const switched = trace.findIndex((t) => t.weights[NEW] === 100);
    assert.equal(switched, 10);
    const done = trace.length - 1;
    assert.ok(done - switched >= 5, `old release kept for the 5 s delay (${done - switched} ticks)`);
    assert.equal(counts[OLD]!.total, 0);
  });

  it('step() with autoPromote switches without a command', () => {
    const spec = service({ blueGreen: { autoPromote: true, scaleDownDelayMs: 0 } });
    const { state } = simulate(spec);
    assert.equal(state.phase, 'completed');
  });
});

describe('step() re-entrance', () => {
  const specs: Array<[string, ServiceSpec]> = [
    ['rolling', service({ rolling: {} })],
    ['canary', service({ canary: { steps: [...CANARY.canary.steps, { pause: { untilApproved: true } }] } })],
    ['blueGreen', service({ blueGreen: { scaleDownDelayMs: 2000, prePromotionAnalysis: ANALYSIS } })],
  ];
  for (const [name, spec] of specs) {
    it(`step() is idempotent at every point of a ${name} rollout`, () => {
      const stable = { ready: 3, starting: 0, total: 3 };
      let state = initialState(spec, OLD, NEW, T0);
      const seen = new Set<string>();
      for (let tick = 0; tick < 40; tick++) {
        const now = new Date(T0.getTime() + tick * 1000);
        const ready = Math.min(3, tick);
        const counts = {
          [OLD]: tick > 30 ? { ready: 0, starting: 0, total: 0 } : stable,
          [NEW]: { ready, starting: 0, total: ready },
        };
        const obs: Observation = { now, counts, commands: [], ...(tick % 2 ? { analysis: pass() } : {}) };
        const once = step(spec, state, obs);
        const twice = step(spec, once.state, obs);
        assert.deepEqual(twice.state, once.state, `tick ${tick}`);
        assert.deepEqual(twice.actions, once.actions, `tick ${tick}`);
        seen.add(once.state.phase);
        state = once.state;
      }
      assert.ok(seen.size > 1);
    });
  }
});
