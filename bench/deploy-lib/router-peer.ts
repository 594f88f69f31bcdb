/**
 * The router against nginx and a direct connection: bench/deploy-router.ts runs its benchmark when loaded,
 * so it runs here as a child with `--json`, and its result is passed through unchanged.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fmt, renderTable } from '../lib/stats.ts';
import { track } from './processes.ts';

export interface RouterLoad {
  perSecond: number;
  p50: number;
  p99: number;
  shareA: number;
  cpu: Record<string, number>;
}

export interface RouterResult {
  options: { connections: number; durationMs: number; rate: number; rateConnections: number; rounds: number };
  machine: string;
  max: Record<string, RouterLoad>;
  fixed: Record<string, RouterLoad>;
  ratio: number;
  ratio1: number;
  addedP99Ms: number;
  addedNginx: number;
  /** What a bare TCP relay in Node adds: the floor for a proxy written in Node. */
  addedRelay: number;
  /** The ratio and added p99s within each round, in round order. */
  perRound: { ratio: number[]; addedP99Ms: number[]; addedNginxP99Ms: number[]; addedRelayP99Ms: number[] };
}

export interface RouterOptions {
  connections: number;
  durationS: number;
  rate: number;
  rateConnections: number;
}

export function runRouterBench(o: RouterOptions): Promise<RouterResult> {
  const script = resolve(import.meta.dirname, '../deploy-router.ts');
  const args = [
    script,
    '--json',
    ...['--connections', String(o.connections), '--duration', String(o.durationS)],
    ...['--rate', String(o.rate), '--rate-connections', String(o.rateConnections)],
  ];
  return new Promise((ok, fail) => {
    // Its progress lines go to our stderr as they come; its JSON comes on stdout at the end.
    const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.once('error', fail);
    child.once('close', (code) => {
      if (code !== 0) return fail(new Error(`Cannot compare the router: bench/deploy-router.ts exited ${code}`));
      try {
        ok(JSON.parse(Buffer.concat(out).toString()) as RouterResult);
      } catch (error) {
        fail(new Error(`Cannot read bench/deploy-router.ts output: ${(error as Error).message}`));
      }
    });
  });
}

/** One line per figure with its value in each round. */
export function describeRounds(perRound: RouterResult['perRound']): string {
  const list = (values: number[], unit: string) => values.map((v) => `${v.toFixed(2)}${unit}`).join(', ');
  return [
    `by round: fixity / nginx req/s ${list(perRound.ratio, '×')}`,
    `          added p99 fixity ${list(perRound.addedP99Ms, ' ms')}; nginx ${list(perRound.addedNginxP99Ms, ' ms')}`,
    `          added p99 node TCP relay ${list(perRound.addedRelayP99Ms, ' ms')}`,
  ].join('\n');
}

/** The per-target table of a router run: closed-loop figures with each process's CPU, then the fixed-rate ones. */
export function routerTable(max: Record<string, RouterLoad>, fixed: Record<string, RouterLoad>): string {
  const pct = (n: number | undefined) => (n === undefined ? '—' : `${fmt(n)}%`);
  const rows = Object.keys(max).map((name) => {
    const m = max[name];
    const f = fixed[name];
    return [
      name,
      fmt(m?.perSecond),
      fmt(m?.p50),
      fmt(m?.p99),
      name === 'direct' ? '—' : `${((m?.shareA ?? 0) * 100).toFixed(1)}%`,
      pct(m?.cpu.proxy),
      pct(m?.cpu.backends),
      pct(m?.cpu.client),
      fmt(f?.perSecond),
      fmt(f?.p50),
      fmt(f?.p99),
    ];
  });
  const head = ['target', 'max req/s', 'p50 ms', 'p99 ms', 'to a (80%)', 'proxy CPU', 'backend CPU', 'client CPU'];
  return renderTable([...head, 'fixed req/s', 'fixed p50 ms', 'fixed p99 ms'], rows);
}
