/** Collects per-repeat samples and renders the result table (text) or one JSON document. */
import type { PhaseUsage } from './proc.ts';
import { fmt, median, renderTable } from './stats.ts';

export type Column = 'fixity' | 'peer' | 'limit';

export interface RowSpec {
  scenario: string;
  unit: string;
  /** Minimum fixity/peer ratio required by the issue, if this row has a target. */
  target?: number;
  /** Latency rows are informational (lower is better) and never have a target. */
  kind: 'throughput' | 'latency';
}

interface Row extends RowSpec {
  samples: Record<Column, number[]>;
  errors: Partial<Record<Column, string>>;
}

export interface RowSummary extends RowSpec {
  fixity: number | null;
  peer: number | null;
  limit: number | null;
  ratio: number | null;
  /** fixity/peer of each repetition that measured both: how far one run's ratio strays from the median's. */
  ratios: number[];
  met: boolean | null;
  errors: Partial<Record<Column, string>>;
}

/** Median server/client usage of one phase, per registry (RSS in MiB, CPU in % of one core). */
export interface UsageSummary {
  phase: string;
  fixity: PhaseUsage | null;
  peer: PhaseUsage | null;
}

export class Results {
  readonly #rows = new Map<string, Row>();
  readonly #usage = new Map<string, Record<'fixity' | 'peer', PhaseUsage[]>>();

  addUsage(phase: string, side: 'fixity' | 'peer', usage: PhaseUsage): void {
    let entry = this.#usage.get(phase);
    if (!entry) {
      entry = { fixity: [], peer: [] };
      this.#usage.set(phase, entry);
    }
    entry[side].push(usage);
  }

  usage(): UsageSummary[] {
    const summarize = (list: PhaseUsage[]): PhaseUsage | null =>
      list.length === 0
        ? null
        : {
            maxRss: median(list.map((u) => u.maxRss)) / 2 ** 20,
            serverCpu: median(list.map((u) => u.serverCpu)),
            clientCpu: median(list.map((u) => u.clientCpu)),
            otherCpu: median(list.map((u) => u.otherCpu)),
          };
    return [...this.#usage].map(([phase, e]) => ({ phase, fixity: summarize(e.fixity), peer: summarize(e.peer) }));
  }

  #row(id: string, spec: RowSpec): Row {
    let row = this.#rows.get(id);
    if (!row) {
      row = { ...spec, samples: { fixity: [], peer: [], limit: [] }, errors: {} };
      this.#rows.set(id, row);
    }
    return row;
  }

  add(id: string, spec: RowSpec, column: Column, value: number): void {
    this.#row(id, spec).samples[column].push(value);
  }

  fail(id: string, spec: RowSpec, column: Column, error: unknown): void {
    const row = this.#row(id, spec);
    row.errors[column] ??= error instanceof Error ? error.message : String(error);
  }

  summary(): RowSummary[] {
    return [...this.#rows.values()].map((row) => {
      const value = (c: Column): number | null => (row.samples[c].length > 0 ? median(row.samples[c]) : null);
      const fixity = value('fixity');
      const peer = value('peer');
      const ratio = fixity !== null && peer !== null && peer > 0 ? fixity / peer : null;
      const met = row.target !== undefined && ratio !== null ? ratio >= row.target : null;
      const ratios = perRun(row.samples.fixity, row.samples.peer);
      const { samples: _samples, ...spec } = row;
      return { ...spec, fixity, peer, limit: value('limit'), ratio, ratios, met };
    });
  }
}

/** a[i] / b[i] for each index both have (the repetitions of one run pair up by index). */
export function perRun(a: readonly number[], b: readonly number[]): number[] {
  return a.flatMap((x, i) => (b[i] !== undefined && b[i] > 0 ? [x / b[i]] : []));
}

/** The lowest and highest of several ratios, as `0.80–1.00×`; empty for fewer than two. */
export function spread(ratios: readonly number[]): string {
  if (ratios.length < 2) return '';
  return `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`;
}

export function renderText(rows: readonly RowSummary[], usage: readonly UsageSummary[]): string {
  const cell = (v: number | null | undefined): string => fmt(v ?? undefined);
  const out = [
    renderTable(
      ['scenario', 'unit', 'fixity', 'peer', 'fixity/peer', 'runs', 'limit', 'target', 'met'],
      rows.map((r) => [
        r.scenario,
        r.unit,
        r.errors.fixity ? 'ERROR' : cell(r.fixity),
        r.errors.peer ? 'ERROR' : cell(r.peer),
        r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
        spread(r.ratios),
        cell(r.limit),
        r.target === undefined ? '' : `≥ ${r.target.toFixed(1)}×`,
        r.met === null ? '' : r.met ? 'yes' : 'NO',
      ]),
    ),
  ];
  if (usage.length > 0) {
    out.push(
      '',
      'Max RSS (MiB) of the server; CPU (% of one core) of the server, the benchmark client and all other load:',
      '',
      renderTable(
        [
          'phase',
          'fixity RSS',
          'peer RSS',
          'fixity CPU',
          'peer CPU',
          'client (fixity)',
          'client (peer)',
          'other (fixity)',
          'other (peer)',
        ],
        usage.map((u) => [
          u.phase,
          cell(u.fixity?.maxRss),
          cell(u.peer?.maxRss),
          cell(u.fixity?.serverCpu),
          cell(u.peer?.serverCpu),
          cell(u.fixity?.clientCpu),
          cell(u.peer?.clientCpu),
          cell(u.fixity?.otherCpu),
          cell(u.peer?.otherCpu),
        ]),
      ),
    );
  }
  const busiest = Math.max(0, ...usage.flatMap((u) => [u.fixity?.otherCpu ?? 0, u.peer?.otherCpu ?? 0]));
  if (busiest > 25) {
    out.push(
      '',
      `WARNING: other load used up to ${busiest.toFixed(0)}% of a core during a phase; figures are disturbed (rerun on an idle machine).`,
    );
  }
  const errors = rows.flatMap((r) =>
    Object.entries(r.errors).map(([column, message]) => `- ${r.scenario} [${column}]: ${message}`),
  );
  if (errors.length > 0) out.push('', 'Errors (first per scenario and server):', ...errors);
  return out.join('\n');
}
