/** Small statistics and formatting helpers for the registry benchmark. */

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Median of a sample (mean of the two middle values for even counts); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid] ?? Number.NaN;
  return ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

/** Megabytes (10^6 bytes) per second. */
export function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/** Formats a number with a precision suited to its magnitude; "—" for missing values. */
export function fmt(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Renders a Markdown-compatible table with left-aligned first column and right-aligned others. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/**
 * Runs `total` tasks with at most `concurrency` in flight and returns each task's latency in ms.
 * After the first failure no new task starts; the first error is rethrown once in-flight tasks settle.
 */
export async function runPool(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = new Array<number>(total);
  let next = 0;
  let failed = false;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < total && !failed; i = next++) {
      const t0 = performance.now();
      try {
        await task(i);
      } catch (error) {
        failed = true;
        throw error;
      }
      latencies[i] = performance.now() - t0;
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(concurrency, total) }, worker));
  const rejection = settled.find((s) => s.status === 'rejected');
  if (rejection) throw rejection.reason;
  return { latencies, elapsedMs: performance.now() - started };
}
