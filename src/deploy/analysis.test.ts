import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateAnalysis, type Window } from './analysis.ts';
import { type AnalysisSpec, parseEnvironmentSpec } from './environment-spec.ts';

function analysis(overrides: Record<string, unknown> = {}): AnalysisSpec {
  const env = parseEnvironmentSpec({
    apiVersion: 'fixity.dev/v1',
    kind: 'Environment',
    name: 'staging',
    stage: 'staging',
    services: [
      {
        name: 'hello',
        image: { repository: 'hello', stage: 'staging' },
        strategy: { canary: { analysis: { minRequests: 20, ...overrides } } },
      },
    ],
  });
  const strategy = env.services[0]!.strategy;
  assert.ok(strategy.kind === 'canary' && strategy.analysis !== null);
  return strategy.analysis;
}

// Deterministic latencies center-10 … center+10, each equally often when the count is a multiple of 21.
function window(requests: number, center: number, failed = 0): Window {
  const latenciesMs = Array.from({ length: requests - failed }, (_, i) => center + (i % 21) - 10);
  return { requests, errors: failed, connectionFailures: 0, latenciesMs };
}

describe('evaluateAnalysis()', () => {
  it('evaluateAnalysis() is inconclusive below minRequests, not failed', () => {
    const r = evaluateAnalysis(analysis(), window(100, 100), window(12, 100));
    assert.equal(r.inconclusive, true);
    assert.equal(r.passed, false);
    assert.deepEqual(r.checks, [{ name: 'requests', passed: false, detail: '12 requests < 20 needed; inconclusive' }]);
    assert.equal(r.metrics.requests, 12);
  });

  it('evaluateAnalysis() passes a canary like its baseline', () => {
    const r = evaluateAnalysis(analysis({ thresholds: { p99Ms: 500 } }), window(210, 100), window(210, 100));
    assert.equal(r.passed, true, JSON.stringify(r.checks));
    assert.equal(r.inconclusive, false);
    assert.deepEqual(
      r.checks.map((c) => c.name),
      ['successRate', 'p99', 'latency vs baseline', 'errors vs baseline'],
    );
    assert.equal(r.checks[0]!.detail, 'success rate 100.00% ≥ 99.00%');
    assert.equal(r.checks[1]!.detail, 'p99 110 ms ≤ 500 ms');
    assert.match(
      r.checks[2]!.detail,
      /^canary latency not higher than baseline \(median 100 ms vs 100 ms\), p=0\.\d{3} ≥ 0\.05$/,
    );
    assert.deepEqual(r.metrics, { requests: 210, successRate: 1, p50Ms: 100, p99Ms: 110 });
  });

  it('evaluateAnalysis() fails a slow canary on its threshold and against the baseline', () => {
    const r = evaluateAnalysis(
      analysis({ thresholds: { p99Ms: 500, p50Ms: 200 } }),
      window(105, 120),
      window(105, 605),
    );
    assert.equal(r.passed, false);
    const failed = r.checks.filter((c) => !c.passed).map((c) => c.detail);
    assert.deepEqual(failed.slice(0, 2), ['p50 605 ms > 200 ms', 'p99 615 ms > 500 ms']);
    assert.match(failed[2]!, /^canary latency higher than baseline \(median 605 ms vs 120 ms\), p=\S+ < 0\.05$/);
  });

  it('evaluateAnalysis() fails on a success rate below the threshold and on more errors than the baseline', () => {
    const r = evaluateAnalysis(analysis(), window(400, 100, 0), { ...window(400, 100, 20), connectionFailures: 4 });
    const rate = r.checks.find((c) => c.name === 'successRate')!;
    assert.deepEqual(rate, { name: 'successRate', passed: false, detail: 'success rate 94.00% < 99.00%' });
    const errors = r.checks.find((c) => c.name === 'errors vs baseline')!;
    assert.equal(errors.passed, false);
    assert.match(errors.detail, /^canary error rate higher than baseline \(6\.00% vs 0\.00%\), p=\S+ < 0\.05$/);
    assert.equal(r.metrics.successRate, 0.94);
  });

  it('evaluateAnalysis() does not fail a canary that is faster, unless direction is "either"', () => {
    const faster = evaluateAnalysis(analysis({ compare: { metric: 'latency' } }), window(100, 300), window(100, 100));
    assert.equal(faster.passed, true);
    const either = evaluateAnalysis(
      analysis({ compare: { metric: 'latency', direction: 'either' } }),
      window(100, 300),
      window(100, 100),
    );
    assert.equal(either.passed, false);
    assert.match(either.checks.at(-1)!.detail, /^canary latency different from baseline/);
  });

  it('evaluateAnalysis() skips the comparison without a baseline, with too few samples, or when compare is false', () => {
    const none = evaluateAnalysis(analysis(), null, window(50, 100));
    assert.deepEqual(
      none.checks.slice(1).map((c) => [c.passed, c.detail]),
      [
        [true, 'skipped: no baseline to compare with'],
        [true, 'skipped: no baseline to compare with'],
      ],
    );
    const small = evaluateAnalysis(analysis(), window(5, 900), window(50, 100));
    assert.deepEqual(
      small.checks.slice(1).map((c) => c.detail),
      ['skipped: needs 8 latencies each (canary 50, baseline 5)', 'skipped: baseline had 5 requests (< 8)'],
    );
    const off = evaluateAnalysis(analysis({ compare: false }), window(50, 900), window(50, 100));
    assert.deepEqual(
      off.checks.map((c) => c.name),
      ['successRate'],
    );
  });

  it('evaluateAnalysis() fails a latency threshold when no request was answered', () => {
    const r = evaluateAnalysis(analysis({ thresholds: { p99Ms: 500 } }), null, {
      requests: 30,
      errors: 0,
      connectionFailures: 30,
      latenciesMs: [],
    });
    assert.deepEqual(r.checks.map((c) => c.detail).slice(0, 2), [
      'success rate 0.00% < 99.00%',
      'p99 unknown: no request was answered',
    ]);
    assert.equal(r.metrics.p50Ms, null);
  });
});
