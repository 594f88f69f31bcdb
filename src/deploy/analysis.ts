import type { AnalysisSpec } from './environment-spec.ts';
import { MIN_SAMPLES, mannWhitneyU, normalSf } from './mann-whitney.ts';

/** One measurement window of one release, as the router's `window()` returns it. */
export interface Window {
  /** Every request proxied to the release, including those that ended in an error or a connection failure. */
  requests: number;
  /** Answers with a 5xx status. */
  errors: number;
  /** Requests the release never answered (refused, reset, timed out). */
  connectionFailures: number;
  /** Latency of each answered request. */
  latenciesMs: number[];
}

export interface AnalysisCheck {
  name: string;
  passed: boolean;
  /** One line for people, e.g. "p99 612 ms > 500 ms". */
  detail: string;
}

/** The verdict on one window. Inconclusive runs (too little traffic) neither pass nor fail. */
export interface AnalysisRunResult {
  /** When the window ended (ISO); the reconciler sets it, the strategy fills in the observation time if absent. */
  at?: string;
  passed: boolean;
  inconclusive: boolean;
  metrics: { requests: number; successRate: number | null; p50Ms: number | null; p99Ms: number | null };
  checks: AnalysisCheck[];
}

/**
 * Judges the canary's window: absolute thresholds first, then, when a baseline is given and `spec.compare` is on,
 * a statistical comparison. Latency: one-sided (or two-sided for direction "either") Mann-Whitney U on the
 * per-request latencies. Errors: a pooled two-proportion z-test on the failure rates (on 0/1 data this is what
 * Mann-Whitney reduces to, without the tie bookkeeping). Either comparison is skipped, not failed, below
 * MIN_SAMPLES observations in a sample.
 */
export function evaluateAnalysis(spec: AnalysisSpec, baseline: Window | null, canary: Window): AnalysisRunResult {
  const metrics = summarize(canary);
  if (canary.requests < spec.minRequests) {
    const detail = `${canary.requests} requests < ${spec.minRequests} needed; inconclusive`;
    return { passed: false, inconclusive: true, metrics, checks: [{ name: 'requests', passed: false, detail }] };
  }
  const { thresholds } = spec;
  const checks: AnalysisCheck[] = [];
  const rate = metrics.successRate ?? 0;
  checks.push({
    name: 'successRate',
    passed: rate >= thresholds.successRate,
    detail: `success rate ${percent(rate)} ${rate >= thresholds.successRate ? '≥' : '<'} ${percent(thresholds.successRate)}`,
  });
  if (thresholds.p50Ms !== undefined) checks.push(latencyCheck('p50', metrics.p50Ms, thresholds.p50Ms));
  if (thresholds.p99Ms !== undefined) checks.push(latencyCheck('p99', metrics.p99Ms, thresholds.p99Ms));
  const compare = spec.compare;
  if (compare !== null) {
    const alpha = 1 - compare.confidence;
    if (compare.metric !== 'errors') checks.push(compareLatency(baseline, canary, alpha, compare.direction));
    if (compare.metric !== 'latency') checks.push(compareErrors(baseline, canary, alpha, compare.direction));
  }
  return { passed: checks.every((c) => c.passed), inconclusive: false, metrics, checks };
}

function summarize(w: Window): AnalysisRunResult['metrics'] {
  const sorted = [...w.latenciesMs].sort((a, b) => a - b);
  return {
    requests: w.requests,
    successRate: w.requests > 0 ? (w.requests - failures(w)) / w.requests : null,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

function latencyCheck(name: string, value: number | null, limit: number): AnalysisCheck {
  if (value === null) return { name, passed: false, detail: `${name} unknown: no request was answered` };
  const passed = value <= limit;
  return { name, passed, detail: `${name} ${ms(value)} ${passed ? '≤' : '>'} ${ms(limit)}` };
}

function compareLatency(
  baseline: Window | null,
  canary: Window,
  alpha: number,
  direction: 'increase' | 'either',
): AnalysisCheck {
  const name = 'latency vs baseline';
  const a = baseline?.latenciesMs ?? [];
  const b = canary.latenciesMs;
  if (baseline === null) return { name, passed: true, detail: 'skipped: no baseline to compare with' };
  if (a.length < MIN_SAMPLES || b.length < MIN_SAMPLES)
    return {
      name,
      passed: true,
      detail: `skipped: needs ${MIN_SAMPLES} latencies each (canary ${b.length}, baseline ${a.length})`,
    };
  const test = mannWhitneyU(a, b);
  const p = direction === 'increase' ? test.pGreater : test.pTwoSided;
  const medians = `median ${ms(percentile(sortedCopy(b), 0.5)!)} vs ${ms(percentile(sortedCopy(a), 0.5)!)}`;
  const worse = direction === 'increase' ? 'higher than' : 'different from';
  return p < alpha
    ? { name, passed: false, detail: `canary latency ${worse} baseline (${medians}), p=${pValue(p)} < ${num(alpha)}` }
    : {
        name,
        passed: true,
        detail: `canary latency not ${worse} baseline (${medians}), p=${pValue(p)} ≥ ${num(alpha)}`,
      };
}

function compareErrors(
  baseline: Window | null,
  canary: Window,
  alpha: number,
  direction: 'increase' | 'either',
): AnalysisCheck {
  const name = 'errors vs baseline';
  if (baseline === null) return { name, passed: true, detail: 'skipped: no baseline to compare with' };
  if (baseline.requests < MIN_SAMPLES)
    return { name, passed: true, detail: `skipped: baseline had ${baseline.requests} requests (< ${MIN_SAMPLES})` };
  const p1 = failures(baseline) / baseline.requests;
  const p2 = failures(canary) / canary.requests;
  const pooled = (failures(baseline) + failures(canary)) / (baseline.requests + canary.requests);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / baseline.requests + 1 / canary.requests));
  const z = se === 0 ? 0 : (p2 - p1) / se;
  const p = se === 0 ? 1 : direction === 'increase' ? normalSf(z) : Math.min(1, 2 * normalSf(Math.abs(z)));
  const rates = `${percent(p2)} vs ${percent(p1)}`;
  const worse = direction === 'increase' ? 'higher than' : 'different from';
  return p < alpha
    ? { name, passed: false, detail: `canary error rate ${worse} baseline (${rates}), p=${pValue(p)} < ${num(alpha)}` }
    : {
        name,
        passed: true,
        detail: `canary error rate not ${worse} baseline (${rates}), p=${pValue(p)} ≥ ${num(alpha)}`,
      };
}

function failures(w: Window): number {
  return Math.min(w.requests, w.errors + w.connectionFailures);
}

// Nearest-rank percentile of sorted values; null when there are none.
function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((x, y) => x - y);
}

function ms(value: number): string {
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ms`;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(2)}%`;
}

function pValue(p: number): string {
  return p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

function num(value: number): string {
  return String(Number(value.toFixed(4)));
}
