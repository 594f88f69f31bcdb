import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { canonicalJSON, type Digest, describeSpecIssue, digestOf } from '../core/index.ts';
import { compilePolicy } from '../policy/index.ts';
import { ReleaseError } from './release-error.ts';
import { isTimeZone, parseDuration, parseRRule } from './windows.ts';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const stageName = z.string().regex(NAME, 'a stage name: lowercase letters, digits and -, starting with a letter');
const duration = z
  .string()
  .regex(/^(?=\d)(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/, 'a duration such as 30m, 2h, 1d or 1h30m');

export const gateSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,62}$/, 'a gate name: a letter, then letters, digits, . _ -'),
  expression: z
    .string()
    .min(1)
    .describe('CEL over the evidence (artifact, signatures, attestations, …) that must give true'),
  description: z.string().optional().describe('what the gate is for, shown next to a failure'),
});

export const approvalsSchema = z.strictObject({
  count: z.number().int().min(1).max(100).describe('how many distinct people must approve'),
  of: z
    .array(z.string().regex(/^(?:group:)?[A-Za-z0-9._@-]+$/, 'a user name, or group:NAME'))
    .optional()
    .describe('who may approve: user names and group:NAME entries; default anyone with the approver role'),
  distinct: z
    .literal(true)
    .default(true)
    .describe('approvals always count distinct people (kept to make that explicit)'),
  allowAuthor: z.boolean().default(false).describe('may the author of the build approve it'),
  allowPromoter: z.boolean().default(false).describe('may the person promoting also approve'),
});

export const windowSchema = z.strictObject({
  kind: z.enum(['allow', 'deny']).describe('allow: promote only inside; deny: never inside (deny wins)'),
  rrule: z
    .string()
    .min(1)
    .describe('RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=MO,TU,WE,TH;BYHOUR=9 (optional DTSTART line)'),
  duration: duration.describe('how long each occurrence lasts'),
  timezone: z.string().min(1).default('UTC').describe('IANA time zone the rule is read in, e.g. Europe/Berlin'),
});

export const stageSchema = z.strictObject({
  name: stageName,
  from: z.array(stageName).default([]).describe('upstream stages the digest must be verified in first'),
  require: z.enum(['all', 'any']).default('all').describe('verified in all upstream stages, or in any one'),
  soak: duration.optional().describe('minimum time the digest has been verified upstream'),
  gates: z.array(gateSchema).default([]),
  approvals: approvalsSchema.optional(),
  windows: z.array(windowSchema).default([]),
  auto: z.boolean().default(false).describe('promote automatically once everything passes (only admins may enable)'),
  protected: z
    .boolean()
    .optional()
    .describe(
      'production-like: the CLI asks to type the stage name before promoting into it or rolling back an environment bound to it (--yes skips)',
    ),
});

export const pipelineSpecSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    stages: z.array(stageSchema).min(1),
  })
  .describe('The promotion pipeline: stages, their gates, approvals, windows and soak times');

export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;
export type StageSpec = z.infer<typeof stageSchema>;
export type ApprovalSpec = z.infer<typeof approvalsSchema>;

/** Validates a parsed document: shape first, then names, the stage graph, every gate's CEL and every window. */
export function parsePipelineSpec(doc: unknown, file = 'pipeline.yaml'): PipelineSpec {
  const result = pipelineSpecSchema.safeParse(doc);
  if (!result.success)
    throw pipelineInvalid(
      file,
      result.error.issues.map((i) => describeSpecIssue(pipelineSpecSchema, i)),
    );
  const issues = checkStages(result.data.stages);
  if (issues.length > 0) throw pipelineInvalid(file, issues);
  return result.data;
}

/** Parses YAML text (duplicate keys are errors) and validates it. */
export function parsePipelineYAML(text: string, file = 'pipeline.yaml'): PipelineSpec {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0)
    throw pipelineInvalid(
      file,
      doc.errors.map((e) => e.message),
    );
  return parsePipelineSpec(doc.toJS(), file);
}

/** Reads and validates a pipeline file. */
export async function loadPipelineSpec(path: string): Promise<PipelineSpec> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw pipelineInvalid(path, [err.code === 'ENOENT' ? 'no such file' : err.message]);
  });
  return parsePipelineYAML(text, path);
}

/** sha256 of the canonical JSON of the validated spec (defaults filled in), so equal pipelines share a digest. */
export function pipelineDigest(spec: PipelineSpec): Digest {
  return digestOf(canonicalJSON(spec));
}

/** The JSON Schema editors use for pipeline files (written to schema/pipeline.schema.json). */
export function pipelineSpecJSONSchema(): object {
  return {
    $id: 'https://fixity.dev/schema/pipeline.schema.json',
    ...z.toJSONSchema(pipelineSpecSchema, { io: 'input' }),
  };
}

function checkStages(stages: readonly StageSpec[]): string[] {
  const issues: string[] = [];
  const index = new Map<string, number>();
  stages.forEach((stage, i) => {
    const first = index.get(stage.name);
    if (first !== undefined) issues.push(`stages[${i}].name: "${stage.name}" is already the name of stages[${first}]`);
    else index.set(stage.name, i);
  });
  stages.forEach((stage, i) => {
    const at = `stages[${i}]`;
    stage.from.forEach((up, j) => {
      if (up === stage.name) issues.push(`${at}.from[${j}]: a stage cannot come from itself`);
      else if (!index.has(up))
        issues.push(`${at}.from[${j}]: unknown stage "${up}"; the stages are ${[...index.keys()].join(', ')}`);
      else if (stage.from.indexOf(up) !== j) issues.push(`${at}.from[${j}]: "${up}" is listed twice`);
    });
    if (stage.soak !== undefined && stage.from.length === 0)
      issues.push(`${at}.soak: a soak needs an upstream stage in "from"`);
    if (stage.soak !== undefined) issues.push(...attempt(`${at}.soak`, () => parseDuration(stage.soak!)));
    issues.push(...checkGates(stage, at), ...checkWindows(stage, at));
    const { approvals } = stage;
    const users = approvals?.of?.filter((who) => !who.startsWith('group:')) ?? [];
    if (approvals?.of !== undefined && users.length === approvals.of.length && users.length < approvals.count) {
      issues.push(
        `${at}.approvals.count: needs ${approvals.count} distinct approvers but "of" names only ${users.length}`,
      );
    }
  });
  const cycle = findCycle(stages, index);
  if (cycle !== undefined)
    issues.push(`stages[${index.get(cycle[0]!)}].from: the stages form a cycle: ${cycle.join(' → ')}`);
  return issues;
}

function checkGates(stage: StageSpec, at: string): string[] {
  const names = stage.gates.map((g) => g.name);
  const duplicate = names.findIndex((n, j) => names.indexOf(n) !== j);
  if (duplicate >= 0) return [`${at}.gates[${duplicate}].name: "${names[duplicate]}" is already a gate of this stage`];
  // Compiled here so a pipeline with a broken gate is never stored; the promotion compiles it again, pinned.
  const policy = compilePolicy(stage.gates);
  return policy.gates.flatMap((gate, j) =>
    gate.kind === 'invalid'
      ? gate.issues.map((i) => `${at}.gates[${j}].expression: ${i.line}:${i.column}: ${i.message}`)
      : [],
  );
}

function checkWindows(stage: StageSpec, at: string): string[] {
  return stage.windows.flatMap((w, j) => {
    const where = `${at}.windows[${j}]`;
    if (!isTimeZone(w.timezone))
      return [`${where}.timezone: "${w.timezone}" is not an IANA time zone such as Europe/Berlin`];
    return [
      ...attempt(`${where}.rrule`, () => {
        const rule = parseRRule(w.rrule);
        if (rule.tzid !== undefined && rule.tzid !== w.timezone) {
          throw new Error(`DTSTART names TZID=${rule.tzid} but timezone is ${w.timezone}`);
        }
      }),
      ...attempt(`${where}.duration`, () => parseDuration(w.duration)),
    ];
  });
}

function attempt(at: string, check: () => unknown): string[] {
  try {
    check();
    return [];
  } catch (err) {
    const reason = err instanceof ReleaseError ? (err.issues[0] ?? err.message) : (err as Error).message;
    return [`${at}: ${reason}`];
  }
}

// Depth-first search over `from` edges; returns the stages of the first cycle found, closed (a → b → a).
function findCycle(stages: readonly StageSpec[], index: ReadonlyMap<string, number>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const trail: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...trail.slice(trail.indexOf(name)), name];
    state.set(name, 'visiting');
    trail.push(name);
    const stage = stages[index.get(name) ?? -1];
    for (const up of stage?.from ?? []) {
      if (up === name || !index.has(up)) continue;
      const cycle = visit(up);
      if (cycle) return cycle;
    }
    trail.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const stage of stages) {
    const cycle = visit(stage.name);
    if (cycle) return cycle.reverse();
  }
  return undefined;
}

function pipelineInvalid(file: string, issues: string[]): ReleaseError {
  return new ReleaseError('PIPELINE_INVALID', `Cannot use ${file}:\n  ${issues.join('\n  ')}`, { issues });
}
