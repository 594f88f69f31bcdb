import { type CelError, type CelInput, type CelResult, celEnv, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { canonicalJSON, type Digest, digestOf } from '../core/index.ts';
import { analyze, type Loop, type Path } from './check.ts';
import { PolicyError } from './policy-error.ts';

/** A gate as written in the pipeline: a name and a CEL expression that must give `true`. */
export interface GateSource {
  readonly name: string;
  readonly expression: string;
}

/** One compile problem; line and column are 1-based positions in the expression. */
export interface CompileIssue {
  readonly gate: string;
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

export type CompiledGate =
  | {
      readonly kind: 'ready';
      readonly name: string;
      readonly expression: string;
      readonly run: (activation: Readonly<Record<string, CelInput | CelError>>) => CelResult;
      /** What the expression reads, reported as `observed` after each evaluation. */
      readonly paths: readonly Path[];
      readonly nodes: number;
      readonly loops: readonly Loop[];
    }
  | {
      readonly kind: 'invalid';
      readonly name: string;
      readonly expression: string;
      readonly issues: readonly CompileIssue[];
    };

/** Gates parsed, checked and planned once; pinned by `digest` so a record names exactly what was evaluated. */
export interface CompiledPolicy {
  readonly digest: Digest;
  readonly gates: readonly CompiledGate[];
  /** Every compile problem of every gate; empty when all gates are ready. */
  readonly issues: readonly CompileIssue[];
}

/** Longest expression accepted (Kubernetes caps CEL rules at 5 KiB; gates are shorter). */
export const MAX_EXPRESSION_LENGTH = 4096;
export const MAX_GATES = 64;
const GATE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;

// One environment for every policy: the standard library plus the strings extension Kubernetes CEL also has.
const env = celEnv({ funcs: strings });

/** Compiles every gate; problems are returned per gate with a position, never thrown. */
export function compilePolicy(gates: readonly GateSource[]): CompiledPolicy {
  if (!Array.isArray(gates)) throw new PolicyError('POLICY_INVALID', 'Cannot compile the policy: gates is not a list');
  const seen = new Set<string>();
  const compiled = gates.map((gate, index): CompiledGate => {
    const name = typeof gate?.name === 'string' ? gate.name : `#${index + 1}`;
    const expression = typeof gate?.expression === 'string' ? gate.expression : '';
    const invalid = (message: string, offset = 0): CompiledGate => ({
      kind: 'invalid',
      name,
      expression,
      issues: [{ gate: name, message, ...position(expression, offset) }],
    });
    if (index >= MAX_GATES) return invalid(`a policy has at most ${MAX_GATES} gates`);
    if (!GATE_NAME.test(name)) return invalid('a gate name starts with a letter and has letters, digits, . _ - (≤ 63)');
    if (seen.has(name)) return invalid(`the gate name "${name}" is used twice`);
    seen.add(name);
    if (typeof gate.expression !== 'string' || expression.trim() === '') return invalid('the expression is empty');
    if (expression.length > MAX_EXPRESSION_LENGTH) {
      return invalid(`the expression has ${expression.length} characters; the limit is ${MAX_EXPRESSION_LENGTH}`);
    }
    return compileGate(name, expression);
  });
  return {
    digest: policyDigest({ gates }),
    gates: compiled,
    issues: compiled.flatMap((g) => (g.kind === 'invalid' ? g.issues : [])),
  };
}

/** sha256 of the canonical JSON of the gate list `[{name, expression}, …]`, in order. */
export function policyDigest(policy: { readonly gates: readonly GateSource[] }): Digest {
  return digestOf(canonicalJSON(policy.gates.map(({ name, expression }) => ({ name, expression }))));
}

function compileGate(name: string, expression: string): CompiledGate {
  const issue = (message: string, offset: number): CompileIssue => ({
    gate: name,
    message,
    ...position(expression, offset),
  });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch (err) {
    const offset = (err as { location?: { start?: { offset?: number } } }).location?.start?.offset ?? 0;
    const message =
      err instanceof RangeError
        ? 'the expression nests too deeply'
        : String((err as Error).message ?? err).replace(/^<input>:\d+:\d+: /, '');
    return { kind: 'invalid', name, expression, issues: [issue(`syntax error: ${message}`, offset)] };
  }
  const analysis = analyze(parsed.expr, env, parsed.sourceInfo?.positions ?? {});
  if (analysis.issues.length > 0) {
    return { kind: 'invalid', name, expression, issues: analysis.issues.map((i) => issue(i.message, i.offset)) };
  }
  const run = plan(env, parsed) as (activation: Readonly<Record<string, CelInput | CelError>>) => CelResult;
  return { kind: 'ready', name, expression, run, paths: analysis.paths, nodes: analysis.nodes, loops: analysis.loops };
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}
