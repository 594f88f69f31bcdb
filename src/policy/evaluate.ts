import { type CelValue, celType, isCelError } from '@bufbuild/cel';
import type { Digest } from '../core/index.ts';
import { EACH, formatPath, type Path } from './check.ts';
import type { CompiledGate, CompiledPolicy } from './compile.ts';
import { COST_BUDGET, estimateCost, valuesAt } from './cost.ts';
import type { EvidenceContext, Projection } from './evidence.ts';

/** One gate's outcome: the expression and the values it saw, so a failure explains itself. */
export interface GateResult {
  readonly name: string;
  readonly expression: string;
  readonly passed: boolean;
  /** Why it failed when the answer was not a plain `false`: compile error, CEL error, non-bool, over budget. */
  readonly error?: string;
  /** Path → value for everything the expression read (long lists and strings clipped; absent = null). */
  readonly observed: Readonly<Record<string, unknown>>;
}

export interface PolicyResult {
  readonly digest: Digest;
  /** True only when every gate gave `true`. */
  readonly passed: boolean;
  readonly gates: readonly GateResult[];
}

const MISSING: Readonly<Record<Projection, string>> = {
  provenance: 'no SLSA provenance is attested for this digest',
  sbom: 'no SBOM (SPDX or CycloneDX) is attested for this digest',
  vulnerabilities: 'no vulnerability scan (cosign vuln predicate, Trivy or Grype JSON) is attested for this digest',
  tests: 'no test result (in-toto test-result) is attested for this digest',
};

/** Evaluates every gate of `policy`; an error, a non-bool answer or an over-budget gate is a failure, never a pass. */
export function evaluate(policy: CompiledPolicy, context: EvidenceContext, budget = COST_BUDGET): PolicyResult {
  const gates = policy.gates.map((gate) => evaluateGate(gate, context, budget));
  return { digest: policy.digest, passed: gates.every((g) => g.passed), gates };
}

function evaluateGate(gate: CompiledGate, context: EvidenceContext, budget: number): GateResult {
  const { name, expression } = gate;
  if (gate.kind === 'invalid') {
    const error = gate.issues.map((i) => `${i.line}:${i.column}: ${i.message}`).join('; ');
    return { name, expression, passed: false, error: `does not compile: ${error}`, observed: {} };
  }
  const values = context.values as unknown as Readonly<Record<string, unknown>>;
  const observed = observe(gate.paths, values);
  const fail = (error: string): GateResult => ({ name, expression, passed: false, error, observed });
  const { cost, ranges } = estimateCost(gate.nodes, gate.loops, values);
  if (cost > budget) {
    const over = ranges.length > 0 ? ` walking ${ranges.join(', ')}` : '';
    return fail(`not evaluated: about ${Math.round(cost)} steps${over}; the limit is ${budget}`);
  }
  let result: ReturnType<typeof gate.run>;
  try {
    result = gate.run(context.activation);
  } catch (err) {
    return fail(`evaluation failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (isCelError(result)) return fail(explain(result.message, gate.paths, context));
  if (typeof result !== 'boolean') return fail(`gives ${describe(result)}, not a bool`);
  return result ? { name, expression, passed: true, observed } : { name, expression, passed: false, observed };
}

// CEL's "field not found: critical" on a null projection says nothing about the missing attestation; this does.
function explain(message: string, paths: readonly Path[], context: EvidenceContext): string {
  for (const path of paths) {
    const root = path[0] as Projection;
    if (!(root in MISSING)) continue;
    const problem = context.problems[root];
    if (problem !== undefined) return problem;
    if (context.values[root] === null && path.length > 1) return `${root} is null: ${MISSING[root]}`;
  }
  return /^field not found: /.test(message) ? `${message} (a field or key that may be absent needs has(…))` : message;
}

function describe(value: CelValue): string {
  try {
    return celType(value).name;
  } catch {
    return typeof value;
  }
}

function observe(paths: readonly Path[], values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const observed: Record<string, unknown> = {};
  for (const path of paths) {
    const found = valuesAt(values, path);
    const each = path.includes(EACH);
    observed[formatPath(path)] = clip(each ? found : found.length === 0 ? null : found[0], 0);
  }
  return observed;
}

const MAX_ITEMS = 20;
const MAX_STRING = 200;

function clip(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (typeof value !== 'object' || value === null) return value ?? null;
  if (depth >= 4) return Array.isArray(value) ? `[… ${value.length} items]` : '{…}';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => clip(v, depth + 1));
    return value.length > MAX_ITEMS ? [...items, `… ${value.length - MAX_ITEMS} more`] : items;
  }
  const entries = Object.entries(value);
  const kept = entries.slice(0, MAX_ITEMS).map(([k, v]) => [k, clip(v, depth + 1)]);
  if (entries.length > MAX_ITEMS) kept.push(['…', `${entries.length - MAX_ITEMS} more keys`]);
  return Object.fromEntries(kept);
}
