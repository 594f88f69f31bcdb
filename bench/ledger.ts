/**
 * The ledger benchmark: durable batched appends per second on SQLite and on PostgreSQL (with lookup by digest
 * working), inclusion-proof latency at the full size, and a full verify against the time node:crypto alone
 * takes to hash the same leaves and nodes, measured in the same run.
 *
 *   npm run bench:ledger -- [--leaves N] [--engines sqlite,postgres] [--postgres URL] [--callers N]
 *                           [--per-call N] [--batch N] [--proofs N] [--lookups N] [--repeat N] [--json]
 *
 * Progress goes to stderr; the table (or, with --json, one JSON document) goes to stdout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openDatabase, type StoreDatabase } from '../src/store/index.ts';
import {
  appendPhase,
  benchSigner,
  lookupPhase,
  openBenchLedger,
  proofPhase,
  verifyPhase,
  warmPhase,
} from './ledger-lib/workload.ts';
import { fmt, median, renderTable } from './lib/stats.ts';

type Engine = 'sqlite' | 'postgres';

function options() {
  const { values } = parseArgs({
    options: {
      leaves: { type: 'string', default: '1000000' },
      engines: { type: 'string', default: 'sqlite,postgres' },
      postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
      callers: { type: 'string', default: '128' },
      'per-call': { type: 'string', default: '256' },
      batch: { type: 'string', default: '10000' },
      proofs: { type: 'string', default: '10000' },
      lookups: { type: 'string', default: '1000' },
      repeat: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const engines = values.engines.split(',').map((e) => e.trim());
  for (const e of engines) if (e !== 'sqlite' && e !== 'postgres') throw new Error(`unknown engine "${e}"`);
  return {
    leaves: int('leaves', values.leaves),
    engines: engines as Engine[],
    postgres: values.postgres,
    callers: int('callers', values.callers),
    perCall: int('per-call', values['per-call']),
    batch: int('batch', values.batch),
    proofs: int('proofs', values.proofs),
    lookups: int('lookups', values.lookups),
    repeat: int('repeat', values.repeat),
    json: values.json,
  };
}

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

/** A fresh database of `engine`, and how to throw it away. */
async function freshDatabase(engine: Engine, postgresUrl: string) {
  if (engine === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'fixity-bench-ledger-'));
    const url = join(dir, 'ledger.db');
    return { open: () => openDatabase({ url }), drop: () => rm(dir, { recursive: true, force: true }) };
  }
  const schema = `bench_ledger_${randomBytes(4).toString('hex')}`;
  return {
    open: () => openDatabase({ url: postgresUrl, schema }),
    drop: async () => {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

async function runEngine(engine: Engine, o: ReturnType<typeof options>) {
  const fresh = await freshDatabase(engine, o.postgres);
  const signer = benchSigner();
  let store: StoreDatabase | null = await fresh.open();
  try {
    let ledger = await openBenchLedger(store, signer, o.batch);
    log(
      `${engine}: appending ${o.leaves.toLocaleString('en-US')} entries (${o.callers} callers × ${o.perCall} per call)`,
    );
    const append = await appendPhase(ledger, o.leaves, o.callers, o.perCall);
    log(`${engine}: ${fmt(append.perSecond)} appends/s in ${append.batches} batches; looking up ${o.lookups} digests`);
    const lookup = await lookupPhase(ledger, o.leaves, o.lookups);
    // A restart empties the tile cache. First every proof reads its tiles from the store (no cache at all),
    // then with the default cache, which holds every tile of a 1M-leaf tree once warm.
    await ledger.close();
    await store.close();
    store = await fresh.open();
    log(`${engine}: ${o.proofs} inclusion proofs, tiles read from the store every time`);
    const uncached = await openBenchLedger(store, signer, o.batch, 0);
    const cold = await proofPhase(uncached, o.proofs);
    await uncached.close();
    ledger = await openBenchLedger(store, signer, o.batch);
    log(`${engine}: filling the tile cache, then ${o.proofs} inclusion proofs`);
    await warmPhase(ledger);
    const proof = await proofPhase(ledger, o.proofs);
    log(`${engine}: full verify`);
    const verify = await verifyPhase(ledger);
    log(`${engine}: verify ${verify.verifySeconds.toFixed(2)} s, bare hashing ${verify.hashSeconds.toFixed(2)} s`);
    await ledger.close();
    return { engine, append, lookup, cold, proof, verify };
  } finally {
    await store?.close();
    await fresh.drop();
  }
}

type Run = Awaited<ReturnType<typeof runEngine>>;

/** One figure per engine: the median over the repeats (each from a fresh database). */
function summarize(runs: Run[]) {
  const m = (f: (r: Run) => number) => median(runs.map(f));
  return {
    appends: m((r) => r.append.perSecond),
    batches: m((r) => r.append.batches),
    callP50: m((r) => r.append.p50),
    callP99: m((r) => r.append.p99),
    lookupP50: m((r) => r.lookup.p50),
    lookupP99: m((r) => r.lookup.p99),
    warmP50: m((r) => r.proof.p50),
    warmP99: m((r) => r.proof.p99),
    coldP50: m((r) => r.cold.p50),
    coldP99: m((r) => r.cold.p99),
    verify: m((r) => r.verify.verifySeconds),
    hashing: m((r) => r.verify.hashSeconds),
    ratio: m((r) => r.verify.ratio),
    appendRuns: runs.map((r) => Math.round(r.append.perSecond)),
    ratioRuns: runs.map((r) => Number(r.verify.ratio.toFixed(2))),
  };
}

const o = options();
const summaries = new Map<Engine, ReturnType<typeof summarize>>();
for (const engine of o.engines) {
  const runs: Run[] = [];
  for (let r = 0; r < o.repeat; r++) {
    if (o.repeat > 1) log(`${engine}: run ${r + 1} of ${o.repeat}`);
    runs.push(await runEngine(engine, o));
  }
  summaries.set(engine, summarize(runs));
}

if (o.json) {
  const results = Object.fromEntries(summaries);
  process.stdout.write(
    `${JSON.stringify({ options: o, node: process.version, cpus: availableParallelism(), results }, null, 2)}\n`,
  );
} else {
  const n = o.leaves.toLocaleString('en-US');
  const engines = [...summaries.keys()];
  const cells = (f: (s: ReturnType<typeof summarize>) => string) => engines.map((e) => f(summaries.get(e)!));
  const met = (ok: (s: ReturnType<typeof summarize>, e: Engine) => boolean) =>
    engines.map((e) => (ok(summaries.get(e)!, e) ? 'yes' : 'NO')).join(' / ');
  const appendTarget = (e: Engine) => (e === 'sqlite' ? 100_000 : 50_000);
  const rows: string[][] = [
    [
      'durable appends, batched',
      'appends/s',
      ...cells((s) => fmt(s.appends)),
      'SQLite ≥ 100,000; PG ≥ 50,000',
      met((s, e) => s.appends >= appendTarget(e)),
    ],
    ['— batches (checkpoints signed)', 'count', ...cells((s) => fmt(s.batches)), '', ''],
    [
      `— one append call of ${o.perCall}, p50 / p99`,
      'ms',
      ...cells((s) => `${fmt(s.callP50)} / ${fmt(s.callP99)}`),
      '',
      '',
    ],
    [
      `findByDigest at ${n}, p50 / p99`,
      'ms',
      ...cells((s) => `${fmt(s.lookupP50)} / ${fmt(s.lookupP99)}`),
      'works',
      'yes',
    ],
    [
      `inclusion proof at ${n}, tile cache warm, p50 / p99`,
      'ms',
      ...cells((s) => `${fmt(s.warmP50)} / ${fmt(s.warmP99)}`),
      '≤ 0.2',
      met((s) => s.warmP50 <= 0.2 && s.warmP99 <= 0.2),
    ],
    [
      `inclusion proof at ${n}, no cache, p50 / p99`,
      'ms',
      ...cells((s) => `${fmt(s.coldP50)} / ${fmt(s.coldP99)}`),
      '',
      '',
    ],
    [`full verify of ${n} leaves`, 's', ...cells((s) => fmt(s.verify)), '', ''],
    ['node:crypto hashing the same leaves + nodes', 's', ...cells((s) => fmt(s.hashing)), '', ''],
    ['verify / bare hashing', '×', ...cells((s) => `${s.ratio.toFixed(2)}×`), '≤ 2×', met((s) => s.ratio <= 2)],
  ];
  process.stdout.write(`${renderTable(['scenario', 'unit', ...engines, 'target', 'met'], rows)}\n`);
  if (o.repeat > 1) {
    for (const e of engines) {
      const s = summaries.get(e)!;
      process.stdout.write(
        `\n${e}: appends/s per run ${s.appendRuns.map((v) => v.toLocaleString('en-US')).join(', ')}; verify/hashing per run ${s.ratioRuns.join(', ')}`,
      );
    }
    process.stdout.write('\n');
  }
}
