/**
 * A realistic ten-gate promotion evaluated after compile, side by side in one run: Fixity's evaluator on
 * @bufbuild/cel (with its cost check and `observed` values), the bare @bufbuild/cel programs, the same ten
 * expressions in @marcbachmann/cel-js, and the same rules hand-written in TypeScript.
 *
 *   npm run bench:policy -- [--rounds N] [--iterations N] [--packages N] [--json]
 *
 * Progress goes to stderr; the table (or, with --json, one JSON document) goes to stdout.
 */
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Environment } from '@marcbachmann/cel-js';
import {
  buildEvidenceContext,
  type CompiledPolicy,
  compilePolicy,
  type EvidenceContext,
  type EvidenceValues,
  evaluate,
} from '../src/policy/index.ts';
import { PRODUCTION_GATES, SPDX_SBOM, sampleEvidence } from '../src/policy/test-samples.ts';
import { fmt, median, renderTable } from './lib/stats.ts';

const TARGET_US = 100;

function parseOptions(): { rounds: number; iterations: number; packages: number; json: boolean } {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '15' },
      iterations: { type: 'string', default: '2000' },
      packages: { type: 'string', default: '250' },
      json: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  return {
    rounds: positive('rounds', values.rounds),
    iterations: positive('iterations', values.iterations),
    packages: positive('packages', values.packages),
    json: values.json,
  };
}

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

// The sample evidence with an SBOM the size of a typical service (a few hundred packages).
function evidence(packages: number): EvidenceContext {
  const base = sampleEvidence();
  const licenses = ['MIT', 'ISC', 'Apache-2.0', 'BSD-3-Clause', '(MIT OR Apache-2.0)'];
  const sbom = {
    ...SPDX_SBOM,
    packages: Array.from({ length: packages }, (_, i) => ({
      name: `pkg-${i}`,
      SPDXID: `SPDXRef-Package-${i}`,
      versionInfo: `1.${i % 17}.${i % 5}`,
      licenseDeclared: licenses[i % licenses.length],
      primaryPackagePurpose: 'LIBRARY',
    })),
  };
  const attestations = base.attestations.map((a) =>
    a.predicateType.startsWith('https://spdx.dev/') ? { ...a, predicate: sbom } : a,
  );
  return buildEvidenceContext({ ...base, attestations });
}

// @marcbachmann/cel-js takes ints as bigint and timestamps as Date; otherwise the same plain values.
function celJsActivation(v: EvidenceValues): Record<string, unknown> {
  const ints = (o: object | null) =>
    o === null
      ? null
      : Object.fromEntries(Object.entries(o).map(([k, x]) => [k, typeof x === 'number' ? BigInt(x) : x]));
  return {
    ...v,
    artifact: { ...v.artifact, ...(v.artifact.created ? { created: new Date(v.artifact.created) } : {}) },
    vulnerabilities: ints(v.vulnerabilities),
    tests: ints(v.tests),
    approvals: v.approvals.map((a) => ({ ...a, at: new Date(a.at) })),
    stages: Object.fromEntries(
      Object.entries(v.stages).map(([n, s]) => [
        n,
        Object.fromEntries(Object.entries(s).map(([k, t]) => [k, new Date(t)])),
      ]),
    ),
    now: new Date(v.now),
  };
}

const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const HOUR = 3_600_000;

/** The ten gates of PRODUCTION_GATES, in the same order, as TypeScript over the plain values. */
function handWritten(v: EvidenceValues): boolean[] {
  const now = Date.parse(v.now);
  const staging = v.stages.staging?.verifiedSince;
  return [
    v.signatures.some((s) => s.verified && s.role === 'release'),
    v.provenance !== null && v.provenance.builderId === 'https://fixity.dev/builders/v1',
    v.provenance?.sourceRepository?.startsWith('https://github.com/example/') === true,
    v.vulnerabilities !== null && v.vulnerabilities.critical === 0,
    v.vulnerabilities !== null && v.vulnerabilities.high <= 2,
    v.tests !== null && v.tests.result === 'PASSED' && v.tests.failed === 0,
    v.sbom !== null && !v.sbom.licenses.some((l) => l.startsWith('AGPL')),
    staging !== undefined && now - Date.parse(staging) >= 2 * HOUR,
    v.artifact.tags.some((t) => SEMVER.test(t)),
    v.artifact.created !== undefined && now - Date.parse(v.artifact.created) < 720 * HOUR,
  ];
}

/**
 * Median µs per promotion (all ten gates) of each engine. Rounds are interleaved (every engine once per round) so
 * that load from other work on a shared machine falls on all engines alike.
 */
function measure(rounds: number, engines: ReadonlyArray<{ iterations: number; promote: () => unknown }>): number[] {
  for (const { iterations, promote } of engines) for (let i = 0; i < iterations; i++) promote(); // warm up the JIT
  const samples = engines.map((): number[] => []);
  for (let r = 0; r < rounds; r++) {
    engines.forEach(({ iterations, promote }, e) => {
      const started = performance.now();
      for (let i = 0; i < iterations; i++) promote();
      samples[e]!.push(((performance.now() - started) * 1000) / iterations);
    });
  }
  return samples.map(median);
}

function compileTime(compile: () => unknown): number {
  for (let i = 0; i < 20; i++) compile();
  const started = performance.now();
  for (let i = 0; i < 200; i++) compile();
  return ((performance.now() - started) * 1000) / 200;
}

function main(): void {
  const options = parseOptions();
  const context = evidence(options.packages);
  const policy: CompiledPolicy = compilePolicy(PRODUCTION_GATES);
  if (policy.issues.length > 0) throw new Error(`the bench policy does not compile: ${JSON.stringify(policy.issues)}`);
  const programs = policy.gates.map((g) => (g.kind === 'ready' ? g.run : () => false));
  const celJs = new Environment({ unlistedVariablesAreDyn: true });
  const celJsPrograms = PRODUCTION_GATES.map((g) => celJs.parse(g.expression));
  const celJsContext = celJsActivation(context.values);

  // Correctness first: all engines must agree, gate by gate, before anything is timed.
  const answers = {
    fixity: evaluate(policy, context).gates.map((g) => g.passed),
    bufbuild: programs.map((run) => run(context.activation) === true),
    celJs: celJsPrograms.map((run) => run(celJsContext) === true),
    typescript: handWritten(context.values),
  };
  for (const [engine, got] of Object.entries(answers)) {
    if (JSON.stringify(got) !== JSON.stringify(answers.typescript) || got.includes(false)) {
      throw new Error(`${engine} disagrees: ${JSON.stringify(got)} vs ${JSON.stringify(answers.typescript)}`);
    }
  }

  const { rounds, iterations } = options;
  log(`10 gates, ${options.packages} SBOM packages, ${rounds} rounds × ${iterations} promotions per engine`);
  const engines = [
    { engine: 'Fixity evaluate() on @bufbuild/cel 0.6.1', iterations, promote: () => evaluate(policy, context) },
    {
      engine: 'bare @bufbuild/cel programs (no cost check, no observed)',
      iterations,
      promote: () => programs.map((run) => run(context.activation)),
    },
    { engine: '@marcbachmann/cel-js 8.0.0', iterations, promote: () => celJsPrograms.map((run) => run(celJsContext)) },
    { engine: 'hand-written TypeScript', iterations: iterations * 10, promote: () => handWritten(context.values) },
  ];
  const medians = measure(rounds, engines);
  const rows = engines.map((e, i) => ({ engine: e.engine, us: medians[i]! }));
  const once = {
    compileBufbuildUs: compileTime(() => compilePolicy(PRODUCTION_GATES)),
    compileCelJsUs: compileTime(() => PRODUCTION_GATES.map((g) => celJs.parse(g.expression))),
    buildEvidenceContextUs: compileTime(() => evidence(options.packages)),
  };
  const fixity = rows[0]!.us;
  const typescript = rows[3]!.us;
  const machine = {
    cpu: `${availableParallelism()} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ options, machine, rows, once, targetUs: TARGET_US }, null, 2)}\n`);
    return;
  }
  const table = renderTable(
    ['engine (10 gates, one promotion)', 'µs', '÷ TypeScript', '÷ Fixity'],
    rows.map((r) => [r.engine, fmt(r.us), `${(r.us / typescript).toFixed(1)}×`, `${(r.us / fixity).toFixed(2)}×`]),
  );
  const oneOff = renderTable(
    ['one-off work', 'µs'],
    [
      ['compilePolicy(10 gates): parse + check + plan, @bufbuild/cel', fmt(once.compileBufbuildUs)],
      ['parse 10 gates, @marcbachmann/cel-js', fmt(once.compileCelJsUs)],
      [
        `buildEvidenceContext (${options.packages}-package SBOM, scan, provenance, tests)`,
        fmt(once.buildEvidenceContextUs),
      ],
    ],
  );
  const met = fixity <= TARGET_US ? 'met' : 'NOT met';
  process.stdout.write(
    `${table}\n\nTarget: ≤ ${TARGET_US} µs per promotion with @bufbuild/cel: ${met}.\n\n${oneOff}\n`,
  );
  process.stdout.write(`\n${machine.cpu}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}\n`);
}

main();
