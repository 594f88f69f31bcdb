import YAML from 'yaml';
import { z } from 'zod';
import { type Digest, describeSpecIssue } from '../core/index.ts';
import { DeployError } from './deploy-error.ts';

const NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const name = (what: string) =>
  z.string().regex(NAME, `${what}: 1–63 lowercase letters, digits and -, not starting or ending with -`);
// distribution-spec repository name grammar
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds as a number, or a string such as 500ms, 10s, 5m, 1h. */
const duration = z.union(
  [
    z.number().int().min(0),
    z
      .string()
      .regex(/^\d+(?:ms|s|m|h)$/)
      .transform((s) => {
        const [, n, unit] = /^(\d+)(ms|s|m|h)$/.exec(s)!;
        return Number(n) * UNITS[unit!]!;
      }),
  ],
  { error: 'a duration: milliseconds as a number, or a string such as 500ms, 10s, 5m, 1h' },
);
const positiveDuration = duration.refine((ms) => ms > 0, 'a duration greater than 0');

/** A count of instances, or a percentage of replicas ("25%"). */
const countOrPercent = z.union([z.number().int().min(0), z.string().regex(/^(?:100|[1-9]?\d)%$/)], {
  error: 'a number of instances, or a percentage of replicas such as "25%"',
});

const imageSchema = z
  .strictObject({
    repository: z
      .string()
      .regex(REPOSITORY, 'a repository name such as hello or team/hello')
      .describe('the repository in this registry'),
    digest: z
      .string()
      .regex(/^sha256:[a-f0-9]{64}$/, 'a manifest digest: sha256: and 64 lowercase hex characters')
      .optional()
      .describe('deploy exactly this manifest digest'),
    stage: name('a stage name').optional().describe('deploy the digest currently promoted into this pipeline stage'),
  })
  .meta({ minProperties: 2, maxProperties: 2 })
  .describe('The image to run: a digest, or a stage whose current digest is resolved at apply time (exactly one)')
  .superRefine((image, ctx) => {
    if ((image.digest === undefined) === (image.stage === undefined))
      ctx.addIssue({ code: 'custom', message: 'give exactly one of digest or stage' });
  })
  .transform(
    (image): ImageRef =>
      image.digest !== undefined
        ? { kind: 'digest', repository: image.repository, digest: image.digest as Digest }
        : { kind: 'stage', repository: image.repository, stage: image.stage! },
  );

export type ImageRef =
  | { kind: 'digest'; repository: string; digest: Digest }
  | { kind: 'stage'; repository: string; stage: string };

const probeSchema = z
  .strictObject({
    path: z.string().startsWith('/', 'an absolute path such as /healthz').default('/').describe('HTTP GET path'),
    intervalMs: positiveDuration.default(1000).describe('time between probes; default 1000'),
    timeoutMs: positiveDuration.default(1000).describe('how long one probe may take; default 1000'),
    failureThreshold: z.number().int().min(1).default(3).describe('consecutive failures before the probe fails'),
  })
  .describe('An HTTP probe: a 2xx or 3xx answer within timeoutMs passes');

const healthSchema = z
  .strictObject({
    readiness: probeSchema.prefault({}).describe('gates traffic; default GET / every second'),
    liveness: probeSchema.optional().describe('restarts (replaces) the instance when it fails; default none'),
    startupTimeoutMs: positiveDuration
      .default(30_000)
      .describe(
        'time from start to the first passing readiness probe before the instance counts as failed; default 30000',
      ),
  })
  .describe('Health checks against the instance port');

const compareSchema = z
  .strictObject({
    test: z
      .literal('mann-whitney')
      .default('mann-whitney')
      .describe('latency: one-sided Mann-Whitney U on request latencies; errors: two-proportion z-test'),
    metric: z
      .enum(['latency', 'errors', 'both'])
      .default('both')
      .describe('what to compare between canary and baseline'),
    confidence: z
      .number()
      .gt(0.5)
      .lt(1)
      .default(0.95)
      .describe('the canary fails when it is worse with p < 1 - confidence'),
    direction: z
      .enum(['increase', 'either'])
      .default('increase')
      .describe('increase: only a canary worse than baseline fails; either: any significant difference fails'),
  })
  .describe('Statistical comparison of the canary against the stable release (the baseline)');

export const analysisSchema = z
  .strictObject({
    intervalMs: positiveDuration.default(10_000).describe('length of one measurement window; default 10000'),
    count: z.number().int().min(1).default(5).describe('conclusive runs needed for the analysis to pass'),
    failureLimit: z.number().int().min(0).default(0).describe('failed runs tolerated; one more rolls back'),
    inconclusiveLimit: z
      .number()
      .int()
      .min(1)
      .default(5)
      .describe('consecutive inconclusive runs (too little traffic) before the rollout pauses for a person'),
    minRequests: z
      .number()
      .int()
      .min(1)
      .default(20)
      .describe('requests a window needs; fewer makes the run inconclusive (it neither passes nor fails)'),
    thresholds: z
      .strictObject({
        successRate: z
          .number()
          .min(0)
          .max(1)
          .default(0.99)
          .describe('minimum share of requests without a 5xx or connection failure'),
        p50Ms: z.number().positive().optional().describe('maximum median latency in ms'),
        p99Ms: z.number().positive().optional().describe('maximum 99th percentile latency in ms'),
      })
      .prefault({})
      .describe('absolute limits on the canary'),
    compare: z
      .union([z.literal(false), compareSchema])
      .prefault({})
      .transform((c) => (c === false ? null : c))
      .describe('statistical comparison against the baseline; false turns it off'),
  })
  .describe('Measures the canary through the router, run by run');

const canaryStepSchema = z
  .strictObject({
    setWeight: z.number().int().min(0).max(100).optional().describe('percent of traffic to send to the canary'),
    pause: z
      .strictObject({
        durationMs: positiveDuration.optional().describe('wait this long'),
        untilApproved: z.literal(true).optional().describe('wait for `fixity rollout resume`'),
      })
      .meta({ minProperties: 1, maxProperties: 1 })
      .superRefine((p, ctx) => {
        if ((p.durationMs === undefined) === (p.untilApproved === undefined))
          ctx.addIssue({ code: 'custom', message: 'give exactly one of durationMs or untilApproved' });
      })
      .optional(),
    analysis: analysisSchema.optional().describe('run an analysis; a failure rolls back'),
  })
  .meta({ minProperties: 1, maxProperties: 1 })
  .describe('One canary step: exactly one of setWeight, pause, analysis')
  .superRefine((s, ctx) => {
    const keys = Object.keys(s).filter((k) => s[k as keyof typeof s] !== undefined);
    if (keys.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `a step has exactly one of setWeight, pause, analysis${keys.length ? ` (found ${keys.join(', ')})` : ''}`,
      });
  })
  .transform((s): CanaryStep => {
    if (s.setWeight !== undefined) return { kind: 'setWeight', weight: s.setWeight };
    if (s.pause !== undefined) return { kind: 'pause', durationMs: s.pause.durationMs ?? null };
    return { kind: 'analysis', analysis: s.analysis! };
  });

const strategySchema = z
  .strictObject({
    rolling: z
      .strictObject({
        maxSurge: countOrPercent.default(1).describe('instances above replicas while rolling (percent rounds up)'),
        maxUnavailable: countOrPercent
          .default(0)
          .describe('instances below replicas allowed to be unready (percent rounds down)'),
      })
      .refine((r) => r.maxSurge !== 0 || r.maxUnavailable !== 0, 'maxSurge and maxUnavailable cannot both be 0')
      .optional()
      .describe('replace instances a few at a time; traffic follows readiness'),
    blueGreen: z
      .strictObject({
        previewRouter: z
          .boolean()
          .default(true)
          .describe('reach the new release before the switch with the router pin header'),
        prePromotionAnalysis: analysisSchema.optional().describe('analysis of the preview before the switch'),
        autoPromote: z.boolean().default(false).describe('switch without waiting for `fixity rollout promote`'),
        scaleDownDelayMs: duration
          .default(30_000)
          .describe('keep the old release running this long after the switch; default 30000'),
      })
      .optional()
      .describe('start the new release beside the old, then switch all traffic at once'),
    canary: z
      .strictObject({
        steps: z.array(canaryStepSchema).default([]).describe('run in order; after the last the canary is promoted'),
        analysis: analysisSchema.optional().describe('background analysis for the whole canary, once weight > 0'),
      })
      .optional()
      .describe('shift traffic step by step, with pauses and analysis'),
  })
  .meta({ minProperties: 1, maxProperties: 1 })
  .describe('How a new release replaces the old: exactly one of rolling, blueGreen, canary; default rolling')
  .superRefine((s, ctx) => {
    const keys = Object.keys(s).filter((k) => s[k as keyof typeof s] !== undefined);
    if (keys.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of rolling, blueGreen, canary${keys.length ? ` (found ${keys.join(', ')})` : ''}`,
      });
  })
  .transform((s): StrategySpec => {
    if (s.blueGreen !== undefined)
      return {
        kind: 'blueGreen',
        previewRouter: s.blueGreen.previewRouter,
        prePromotionAnalysis: s.blueGreen.prePromotionAnalysis ?? null,
        autoPromote: s.blueGreen.autoPromote,
        scaleDownDelayMs: s.blueGreen.scaleDownDelayMs,
      };
    if (s.canary !== undefined) return { kind: 'canary', steps: s.canary.steps, analysis: s.canary.analysis ?? null };
    return { kind: 'rolling', maxSurge: s.rolling!.maxSurge, maxUnavailable: s.rolling!.maxUnavailable };
  });

export const serviceSchema = z
  .strictObject({
    name: name('a service name'),
    image: imageSchema,
    replicas: z.number().int().min(1).max(1000).default(1).describe('instances of the release to run'),
    port: z.number().int().min(1).max(65535).default(8080).describe('the port the process listens on (passed as PORT)'),
    env: z
      .record(z.string().regex(ENV_NAME, 'an environment variable name: letters, digits and _'), z.string())
      .default({})
      .describe('environment variables on top of the image config'),
    secrets: z
      .array(
        z.strictObject({
          name: z.string().regex(ENV_NAME, 'an environment variable name: letters, digits and _'),
          ref: z.string().min(1).describe('where the secret lives, e.g. vault://kv/app#password'),
        }),
      )
      .default([])
      .describe('secrets released to the instance at start as environment variables'),
    health: healthSchema.prefault({}),
    router: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(0).describe('public port of the router; 0 = any free port'),
      })
      .prefault({})
      .describe('the HTTP front that splits traffic between releases'),
    strategy: strategySchema.prefault({ rolling: {} }),
  })
  .describe('One service: an image, its configuration and how it rolls out');

export const environmentSpecSchema = z
  .strictObject({
    apiVersion: z.literal('fixity.dev/v1'),
    kind: z.literal('Environment'),
    name: name('an environment name'),
    stage: name('a stage name').describe('the pipeline stage whose promoted digests this environment may run'),
    services: z.array(serviceSchema).default([]),
  })
  .describe('A Fixity environment: services, their releases, replicas, health checks and rollout strategy');

export type EnvironmentSpec = z.output<typeof environmentSpecSchema>;
export type ServiceSpec = z.output<typeof serviceSchema>;
export type AnalysisSpec = z.output<typeof analysisSchema>;
export type CompareSpec = z.output<typeof compareSchema>;
export type ProbeSpec = z.output<typeof probeSchema>;

/** A canary step; a pause with `durationMs: null` waits for approval. */
export type CanaryStep =
  | { kind: 'setWeight'; weight: number }
  | { kind: 'pause'; durationMs: number | null }
  | { kind: 'analysis'; analysis: AnalysisSpec };

export type StrategySpec =
  | { kind: 'rolling'; maxSurge: number | string; maxUnavailable: number | string }
  | {
      kind: 'blueGreen';
      previewRouter: boolean;
      prePromotionAnalysis: AnalysisSpec | null;
      autoPromote: boolean;
      scaleDownDelayMs: number;
    }
  | { kind: 'canary'; steps: CanaryStep[]; analysis: AnalysisSpec | null };

/** Validates a parsed document (YAML or a JSON request body); every problem is named with its key path. */
export function parseEnvironmentSpec(doc: unknown, file = 'environment.yaml'): EnvironmentSpec {
  const result = environmentSpecSchema.safeParse(doc);
  if (!result.success)
    throw specInvalid(
      file,
      result.error.issues.map((i) => describeSpecIssue(environmentSpecSchema, i)),
    );
  const issues = checkServices(result.data.services);
  if (issues.length > 0) throw specInvalid(file, issues);
  return result.data;
}

/** Parses YAML text (duplicate keys are errors) and validates it; throws DeployError SPEC_INVALID. */
export function parseEnvironment(yaml: string, file = 'environment.yaml'): EnvironmentSpec {
  const doc = YAML.parseDocument(yaml, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0)
    throw specInvalid(
      file,
      doc.errors.map((e) => e.message),
    );
  return parseEnvironmentSpec(doc.toJS(), file);
}

/** The JSON Schema editors use for environment files (written to schema/environment.schema.json). */
export function environmentSpecJSONSchema(): object {
  return {
    $id: 'https://fixity.dev/schema/environment.schema.json',
    ...z.toJSONSchema(environmentSpecSchema, { io: 'input' }),
  };
}

function checkServices(services: readonly ServiceSpec[]): string[] {
  const issues: string[] = [];
  const names = new Map<string, number>();
  const ports = new Map<number, number>();
  services.forEach((service, i) => {
    const at = `services[${i}]`;
    const first = names.get(service.name);
    if (first !== undefined) issues.push(`${at}.name: "${service.name}" is already the name of services[${first}]`);
    else names.set(service.name, i);
    const port = service.router.port;
    const samePort = ports.get(port);
    if (port !== 0 && samePort !== undefined)
      issues.push(`${at}.router.port: ${port} is already the router port of services[${samePort}]`);
    else ports.set(port, i);
    if ('PORT' in service.env) issues.push(`${at}.env.PORT: set from port; remove it from env`);
    service.secrets.forEach((secret, j) => {
      if (secret.name in service.env)
        issues.push(`${at}.secrets[${j}].name: ${secret.name} is also set in env; give it one source`);
      if (service.secrets.findIndex((s) => s.name === secret.name) !== j)
        issues.push(`${at}.secrets[${j}].name: ${secret.name} is listed twice`);
    });
  });
  return issues;
}

function specInvalid(file: string, issues: string[]): DeployError {
  return new DeployError('SPEC_INVALID', `Cannot use ${file}:\n  ${issues.join('\n  ')}`, { issues });
}
