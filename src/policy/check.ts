import type { CelEnv, parse } from '@bufbuild/cel';
import { BOOL, DYN, describeShape, EVIDENCE_SHAPE, INT, type Shape, STRING, TYPE_NAMES } from './evidence-shape.ts';

type Expr = ReturnType<typeof parse>['expr'];

/** A path from a CEL variable: field names, and EACH for "every element of a list / every key of a map". */
export const EACH = 0;
export type Segment = string | typeof EACH;
export type Path = readonly Segment[];

/** How many elements a comprehension walks: measured on the evidence at evaluation time. */
export type SizeRef =
  | { readonly kind: 'path'; readonly path: Path }
  | { readonly kind: 'fixed'; readonly n: number }
  | { readonly kind: 'sum'; readonly parts: readonly SizeRef[] }
  | { readonly kind: 'unknown' };

/** One comprehension: `body` nodes run per element, plus the loops nested in its body. */
export interface Loop {
  readonly range: SizeRef;
  readonly body: number;
  readonly inner: readonly Loop[];
}

export interface Analysis {
  readonly issues: ReadonlyArray<{ offset: number; message: string }>;
  /** What the expression reads from the evidence, most specific paths only. */
  readonly paths: readonly Path[];
  readonly nodes: number;
  readonly loops: readonly Loop[];
}

interface Info {
  shape: Shape;
  path?: Path;
  size?: SizeRef;
}

/** Operators the planner implements itself, outside the function registry. */
const BUILTIN_CALLS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false']);
const BOOL_CALLS = new Set([
  ...['_&&_', '_||_', '!_', '_==_', '_!=_', '_<_', '_<=_', '_>_', '_>=_', '@in', '@not_strictly_false'],
  ...['startsWith', 'endsWith', 'contains', 'matches'],
]);
const MAX_DEPTH = 96;
// Measured: one `matches()` (RE2 in JS) costs about as much as 40 other nodes.
const MATCHES_WEIGHT = 40;

/** Static check of a parsed gate against the evidence shape: names, fields, functions, depth; plus what it reads. */
export function analyze(root: Expr, env: CelEnv, positions: Readonly<Record<string, number>>): Analysis {
  const issues: Array<{ offset: number; message: string }> = [];
  const paths: Path[] = [];
  let loops: Loop[] = [];
  let nodes = 0;
  let tooDeep = false;
  const fail = (e: Expr, message: string): Info => {
    issues.push({ offset: positions[String(e.id)] ?? 0, message });
    return { shape: DYN };
  };
  const use = (info: Info): Info => {
    if (info.path !== undefined) paths.push(info.path);
    return { shape: info.shape, ...(info.size ? { size: info.size } : {}) };
  };

  const walk = (e: Expr, scope: ReadonlyMap<string, Info>, depth: number): Info => {
    nodes += 1;
    if (depth > MAX_DEPTH) {
      if (tooDeep) return { shape: DYN };
      tooDeep = true;
      return fail(e, `the expression nests deeper than ${MAX_DEPTH} levels`);
    }
    const next = depth + 1;
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr':
        return { shape: constShape(k.value.constantKind.case) };
      case 'identExpr': {
        const name = k.value.name;
        const local = scope.get(name);
        if (local !== undefined) return local;
        const shape = EVIDENCE_SHAPE[name];
        if (shape !== undefined) return { shape, path: [name] };
        if (TYPE_NAMES.has(name)) return { shape: DYN };
        return fail(e, `unknown variable "${name}"; the variables are ${Object.keys(EVIDENCE_SHAPE).join(', ')}`);
      }
      case 'selectExpr': {
        const { operand, field, testOnly } = k.value;
        const info = operand ? walk(operand, scope, next) : { shape: DYN };
        const member = memberOf(info, field, (message) => fail(e, message));
        return testOnly ? { shape: BOOL, ...(member.path ? { path: member.path } : {}) } : member;
      }
      case 'callExpr': {
        const { target, args } = k.value;
        const name = k.value.function;
        if (name === '_[_]' && args.length === 2) {
          const of = walk(args[0]!, scope, next);
          const key = args[1]!;
          if (key.exprKind.case === 'constExpr' && key.exprKind.value.constantKind.case === 'stringValue') {
            return memberOf(of, key.exprKind.value.constantKind.value, (message) => fail(e, message));
          }
          use(walk(key, scope, next));
          return { shape: elementOf(use(of).shape) };
        }
        if (!BUILTIN_CALLS.has(name)) {
          const group = env.funcs.find(name);
          const forms = group ? [...group].map((f) => f.target !== undefined) : [];
          if (forms.length === 0) return fail(e, `unknown function "${name}"`);
          if (!forms.includes(target !== undefined)) {
            return fail(
              e,
              target
                ? `"${name}" is a function, not a method: write ${name}(x)`
                : `"${name}" is a method: write x.${name}(…)`,
            );
          }
        }
        if (name === 'matches') nodes += MATCHES_WEIGHT;
        const operands = [...(target ? [target] : []), ...args].map((a) => use(walk(a, scope, next)));
        if (name === '_+_' && operands.every((o) => o.shape.kind === 'list')) {
          return { shape: { kind: 'list', element: DYN }, size: { kind: 'sum', parts: operands.map(sizeOf) } };
        }
        return { shape: BOOL_CALLS.has(name) ? BOOL : name === 'size' ? INT : DYN };
      }
      case 'listExpr': {
        for (const el of k.value.elements) use(walk(el, scope, next));
        return { shape: { kind: 'list', element: DYN }, size: { kind: 'fixed', n: k.value.elements.length } };
      }
      case 'structExpr': {
        if (k.value.messageName !== '')
          return fail(e, `message construction (${k.value.messageName}{…}) is not supported`);
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') use(walk(entry.keyKind.value, scope, next));
          if (entry.value) use(walk(entry.value, scope, next));
        }
        return { shape: { kind: 'map', value: DYN } };
      }
      case 'comprehensionExpr': {
        const c = k.value;
        const range = c.iterRange ? walk(c.iterRange, scope, next) : { shape: DYN };
        if (range.shape.kind === 'scalar') return fail(e, `cannot iterate over a ${range.shape.type}`);
        use(range);
        const accu = c.accuInit ? use(walk(c.accuInit, scope, next)) : { shape: DYN };
        const each: Info = {
          shape: range.shape.kind === 'list' ? range.shape.element : range.shape.kind === 'dyn' ? DYN : STRING,
        };
        if (range.path) each.path = [...range.path, EACH];
        const inner = new Map(scope).set(c.accuVar, accu).set(c.iterVar, each);
        const outerLoops = loops;
        const outerNodes = nodes;
        loops = [];
        for (const part of [c.loopCondition, c.loopStep]) if (part) use(walk(part, inner, next));
        outerLoops.push({ range: sizeOf(range), body: nodes - outerNodes, inner: loops });
        loops = outerLoops;
        const result = c.result ? walk(c.result, new Map(scope).set(c.accuVar, accu), next) : { shape: DYN };
        // map() and filter() build a list no longer than the range they walk.
        return result.shape.kind === 'list' ? { shape: result.shape, size: sizeOf(range) } : { shape: result.shape };
      }
      default:
        return fail(e, 'empty expression');
    }
  };

  const top = use(walk(root, new Map(), 0));
  if (issues.length === 0 && top.shape.kind !== 'dyn' && !(top.shape.kind === 'scalar' && top.shape.type === 'bool')) {
    issues.push({ offset: 0, message: `a gate must give a bool, this gives ${describeShape(top.shape)}` });
  }
  const keys = paths.map(pathKey);
  const specific = paths.filter((_, i) => !keys.some((k) => k !== keys[i] && k.startsWith(`${keys[i]}\u0001`)));
  const unique = new Map(specific.map((p) => [pathKey(p), p]));
  return { issues, paths: [...unique.values()], nodes, loops };
}

/** Human form of a path: `signatures[].keyId`, `attestations["https://slsa.dev/provenance/v1"].buildType`. */
export function formatPath(path: Path): string {
  return path
    .map((s, i) =>
      s === EACH ? '[]' : i === 0 ? s : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`,
    )
    .join('');
}

function memberOf(info: Info, field: string, fail: (message: string) => Info): Info {
  const { shape } = info;
  const path = info.path ? [...info.path, field] : undefined;
  const at = info.path ? formatPath(info.path) : 'the value';
  let member: Shape;
  switch (shape.kind) {
    case 'object': {
      const found = shape.fields[field];
      if (found === undefined) {
        return fail(`unknown field "${field}" on ${at}; expected one of ${Object.keys(shape.fields).join(', ')}`);
      }
      member = found;
      break;
    }
    case 'map':
      member = shape.value;
      break;
    case 'dyn':
      member = DYN;
      break;
    case 'list':
      return fail(
        `${at} is a list: select "${field}" inside exists(), all() or map(), e.g. ${at}.exists(x, x.${field} …)`,
      );
    case 'scalar':
      return fail(`${at} is a ${shape.type} and has no field "${field}"`);
  }
  return path ? { shape: member, path } : { shape: member };
}

function elementOf(shape: Shape): Shape {
  return shape.kind === 'list' ? shape.element : shape.kind === 'map' ? shape.value : DYN;
}

function sizeOf(info: Info): SizeRef {
  if (info.path) return { kind: 'path', path: info.path };
  return info.size ?? { kind: 'unknown' };
}

function constShape(kind: string | undefined): Shape {
  switch (kind) {
    case 'boolValue':
      return BOOL;
    case 'stringValue':
      return STRING;
    case 'int64Value':
    case 'uint64Value':
      return INT;
    case 'doubleValue':
      return { kind: 'scalar', type: 'double' };
    case 'nullValue':
      return { kind: 'scalar', type: 'null' };
    default:
      return DYN;
  }
}

function pathKey(path: Path): string {
  return path.map((s) => (s === EACH ? '\u0002' : s)).join('\u0001');
}
