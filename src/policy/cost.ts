import { EACH, formatPath, type Loop, type Path, type SizeRef } from './check.ts';

/**
 * @bufbuild/cel has no cost limit, no iteration cap and no way to interrupt an evaluation (it is synchronous), so
 * a gate's cost is estimated before it runs: AST nodes, plus for each comprehension the size of what it walks
 * (measured on this evidence) times its body, nested loops multiplied. A range the checker cannot trace to the
 * evidence (the result of `split()`, say) counts as UNKNOWN_RANGE elements.
 */
export const COST_BUDGET = 1_000_000;
export const UNKNOWN_RANGE = 1_000;

export interface CostEstimate {
  readonly cost: number;
  /** The ranges walked, largest first: `sbom.packages (120000)`. */
  readonly ranges: readonly string[];
}

/** Estimated steps of one evaluation of a gate over `values` (the plain evidence). */
export function estimateCost(
  nodes: number,
  loops: readonly Loop[],
  values: Readonly<Record<string, unknown>>,
): CostEstimate {
  const ranges = new Map<string, number>();
  const loopCost = (loop: Loop): number => {
    const n = sizeOf(loop.range, values);
    if (loop.range.kind === 'path') ranges.set(formatPath(loop.range.path), n);
    return n * (loop.body + loop.inner.reduce((sum, inner) => sum + loopCost(inner), 0));
  };
  const cost = loops.reduce((sum, loop) => sum + loopCost(loop), nodes);
  const largest = [...ranges].sort((a, b) => b[1] - a[1]).map(([path, n]) => `${path} (${n})`);
  return { cost, ranges: largest };
}

function sizeOf(ref: SizeRef, values: Readonly<Record<string, unknown>>): number {
  switch (ref.kind) {
    case 'fixed':
      return ref.n;
    case 'unknown':
      return UNKNOWN_RANGE;
    case 'sum':
      return ref.parts.reduce((sum, part) => sum + sizeOf(part, values), 0);
    case 'path':
      // Under an EACH the range differs per element; the largest one bounds them all.
      return valuesAt(values, ref.path).reduce((max: number, value) => Math.max(max, count(value)), 0);
  }
}

function count(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  return typeof value === 'object' && value !== null ? Object.keys(value).length : 0;
}

/** Every value a path reaches (several under EACH). */
export function valuesAt(values: Readonly<Record<string, unknown>>, path: Path): unknown[] {
  let frontier: unknown[] = [values];
  for (const segment of path) {
    const next: unknown[] = [];
    for (const value of frontier) {
      if (segment === EACH) {
        // No spread: a 100k-element SBOM would overflow the argument stack.
        const items = Array.isArray(value)
          ? value
          : typeof value === 'object' && value !== null
            ? Object.keys(value)
            : [];
        for (const item of items) next.push(item);
      } else if (
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.hasOwn(value, segment)
      ) {
        next.push((value as Record<string, unknown>)[segment]);
      }
    }
    frontier = next;
  }
  return frontier;
}
