import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The router's per-release numbers, twice: Prometheus metrics (shared by every router on one registry) and a
 * bounded in-memory sample ring per release that the deploy room's analysis reads through `Router.window`.
 */

const REQUESTS = 'fixity_router_requests_total';
const CONNECTION_FAILURES = 'fixity_router_connection_failures_total';
const DURATION = 'fixity_router_request_duration_seconds';
/** Seconds; the proxy itself adds well under a millisecond, so the low end is fine-grained. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A request answered for this release (counts toward `requests`). */
export const SAMPLE_REQUEST = 1;
/** A 5xx from the backend, or a 502 after every connection attempt failed. */
export const SAMPLE_ERROR = 2;
/** A connection to one of this release's backends failed before any response byte. */
export const SAMPLE_CONNECTION_FAILURE = 4;

export interface RouterMetrics {
  readonly requests: Counter<'environment' | 'service' | 'release' | 'code'>;
  readonly connectionFailures: Counter<'environment' | 'service' | 'release'>;
  readonly duration: Histogram<'environment' | 'service' | 'release'>;
}

/** The router metrics of `registry`, created on first use so several routers can share one registry. */
export function routerMetrics(registry: Registry): RouterMetrics {
  const requests =
    (registry.getSingleMetric(REQUESTS) as RouterMetrics['requests'] | undefined) ??
    new Counter({
      name: REQUESTS,
      help: 'Requests the traffic router answered, by release and HTTP status code',
      labelNames: ['environment', 'service', 'release', 'code'],
      registers: [registry],
    });
  const connectionFailures =
    (registry.getSingleMetric(CONNECTION_FAILURES) as RouterMetrics['connectionFailures'] | undefined) ??
    new Counter({
      name: CONNECTION_FAILURES,
      help: 'Connections to a backend that failed before any response byte, by release',
      labelNames: ['environment', 'service', 'release'],
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric(DURATION) as RouterMetrics['duration'] | undefined) ??
    new Histogram({
      name: DURATION,
      help: 'Time from request received to response sent through the traffic router, by release',
      labelNames: ['environment', 'service', 'release'],
      buckets: BUCKETS,
      registers: [registry],
    });
  return { requests, connectionFailures, duration };
}

export interface WindowCounts {
  requests: number;
  errors: number;
  connectionFailures: number;
  latenciesMs: number[];
}

/** One release's recorder: metric children resolved once, and a ring of the last `capacity` samples. */
export interface ReleaseRecorder {
  record(seq: number, code: number, latencyMs: number, flags: number): void;
  /** Everything recorded with a sequence number greater than `since`. */
  window(since: number): WindowCounts;
  /** Sequence number of the newest sample (0 when none). */
  newest(): number;
}

export function createReleaseRecorder(
  metrics: RouterMetrics,
  labels: { environment: string; service: string; release: string },
  capacity: number,
): ReleaseRecorder {
  const { environment, service, release } = labels;
  const byCode = new Map<number, Counter.Internal>();
  const failures = metrics.connectionFailures.labels(environment, service, release);
  const duration = metrics.duration.labels(environment, service, release);
  // Allocated on the first sample: most releases a router ever sees take few requests or none.
  let seqs: Float64Array | undefined;
  let latencies: Float64Array | undefined;
  let flagsRing: Uint8Array | undefined;
  let next = 0;
  let count = 0;
  let newest = 0;

  return {
    record(seq, code, latencyMs, flags) {
      if (flags & SAMPLE_REQUEST) {
        let counter = byCode.get(code);
        if (counter === undefined) {
          counter = metrics.requests.labels(environment, service, release, String(code));
          byCode.set(code, counter);
        }
        counter.inc();
        duration.observe(latencyMs / 1000);
      }
      if (flags & SAMPLE_CONNECTION_FAILURE) failures.inc();
      if (seqs === undefined || latencies === undefined || flagsRing === undefined) {
        seqs = new Float64Array(capacity);
        latencies = new Float64Array(capacity);
        flagsRing = new Uint8Array(capacity);
      }
      seqs[next] = seq;
      latencies[next] = latencyMs;
      flagsRing[next] = flags;
      next = next + 1 === capacity ? 0 : next + 1;
      if (count < capacity) count++;
      newest = seq;
    },
    window(since) {
      const out: WindowCounts = { requests: 0, errors: 0, connectionFailures: 0, latenciesMs: [] };
      if (seqs === undefined || latencies === undefined || flagsRing === undefined) return out;
      // Walk back from the newest sample; sequence numbers only grow, so stop at the first old one.
      const newestFirst: number[] = [];
      for (let i = 0, at = next; i < count; i++) {
        at = at === 0 ? capacity - 1 : at - 1;
        if ((seqs[at] ?? 0) <= since) break;
        const flags = flagsRing[at] ?? 0;
        if (flags & SAMPLE_REQUEST) {
          out.requests++;
          newestFirst.push(latencies[at] ?? 0);
        }
        if (flags & SAMPLE_ERROR) out.errors++;
        if (flags & SAMPLE_CONNECTION_FAILURE) out.connectionFailures++;
      }
      out.latenciesMs = newestFirst.reverse();
      return out;
    },
    newest: () => newest,
  };
}
