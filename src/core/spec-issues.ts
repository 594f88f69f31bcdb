import type { z } from 'zod';

/**
 * One zod issue of a spec file (fixity.yaml, a pipeline, an environment) as a line a person can act on:
 * the key path, then what was expected. An unknown key lists the keys accepted there; a missing one says
 * "required" with its type; a union reports the branch that got past the type check.
 */
export function describeSpecIssue(root: z.ZodType, issue: z.core.$ZodIssue): string {
  const at = issue.path.length === 0 ? '(top level)' : formatKeyPath(issue.path);
  if (issue.code === 'invalid_union' && issue.message === 'Invalid input') {
    // e.g. the object form of `compare: false | {…}`: its errors, not "Invalid input".
    const branch = issue.errors.find((errs) => errs.length > 0 && errs.every((e) => e.path.length > 0));
    if (branch !== undefined)
      return branch.map((e) => describeSpecIssue(root, { ...e, path: [...issue.path, ...e.path] })).join('\n  ');
  }
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(shapeAt(root, issue.path) ?? {});
    const keys = issue.keys.map((k) => formatKeyPath([...issue.path, k])).join(', ');
    return `${keys}: unknown key${known.length ? `; expected one of ${known.join(', ')}` : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${at}: required (${issue.expected})`;
  return `${at}: ${issue.message}`;
}

/** `services[0].health.readiness` */
export function formatKeyPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

// The keys an object schema at `path` accepts, to list them next to an unknown key.
function shapeAt(root: z.ZodType, path: ReadonlyArray<PropertyKey>): Record<string, unknown> | undefined {
  let schema: unknown = root;
  for (const p of path) {
    schema = unwrap(schema);
    schema =
      typeof p === 'number'
        ? (schema as { element?: unknown }).element
        : (schema as { shape?: Record<string, unknown> }).shape?.[String(p)];
  }
  return (unwrap(schema) as { shape?: Record<string, unknown> } | undefined)?.shape;
}

// Through optional/default/prefault (innerType), pipes (in) and unions with one object branch.
function unwrap(schema: unknown): unknown {
  let s = schema as { def?: { innerType?: unknown; in?: unknown; options?: unknown[] } } | undefined;
  for (;;) {
    const def = s?.def;
    if (def?.innerType !== undefined) s = def.innerType as typeof s;
    else if (def?.in !== undefined) s = def.in as typeof s;
    else if (def?.options !== undefined)
      s = def.options.find((o) => (o as { shape?: unknown }).shape !== undefined) as typeof s;
    else return s;
  }
}
