import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { BaseError, describeSpecIssue } from '../core/index.ts';

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
// A relative path inside the source: no absolute paths, no `..` segments.
const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'a relative path inside the source, without ".."');
const imagePath = z
  .string()
  .regex(/^\//, 'an absolute path in the image, e.g. /app')
  .refine((p) => !p.split('/').includes('..'), 'a path without ".."');
const glob = z
  .string()
  .min(1)
  .refine((p) => !p.split('/').includes('..') && !p.startsWith('/'), 'a relative glob without ".."');
const mode = z.union([
  z.number().int().min(0).max(0o7777),
  z.string().regex(/^0?[0-7]{3,4}$/, 'an octal mode such as "0755"'),
]);
const stringMap = z.record(z.string(), z.string());

export const layerSchema = z.strictObject({
  from: relativePath.describe('directory in the source (or a prepare output) whose files form this layer'),
  to: imagePath.describe('where those files land in the image'),
  include: z.array(glob).optional().describe('globs (relative to `from`) to package; default everything'),
  exclude: z.array(glob).optional().describe('globs (relative to `from`) to leave out'),
  modes: z.record(z.string(), mode).optional().describe('permission overrides: glob → octal mode'),
});

export const prepareSchema = z.strictObject({
  run: z.string().min(1).describe('shell command run in a clean temporary copy of the source before packaging'),
  outputs: z
    .array(relativePath)
    .min(1)
    .describe('paths the command produces; only these can be packaged from the copy'),
  env: stringMap.optional().describe('environment for the command (nothing else is inherited but PATH and HOME)'),
  network: z.boolean().optional().describe('allow network access (default false)'),
});

export const buildSpecSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'lowercase letters, digits and . _ -')
      .describe('image name'),
    version: z.string().regex(SEMVER, 'a semantic version such as 1.2.3').describe('image version (semver)'),
    base: z
      .string()
      .min(1)
      .default('scratch')
      .describe('"scratch" or an image reference, pinned to a digest in fixity.lock'),
    platform: z
      .string()
      .regex(/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/, 'os/arch[/variant], e.g. linux/amd64')
      .default('linux/amd64'),
    prepare: prepareSchema.optional(),
    layers: z.array(layerSchema).min(1).describe('ordered layers; each becomes one OCI layer'),
    entrypoint: z.array(z.string()).optional(),
    cmd: z.array(z.string()).optional(),
    env: stringMap.optional().describe('environment of the image (never secrets: they are scanned for)'),
    workdir: imagePath.optional(),
    user: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?$/, 'user[:group], names or ids')
      .optional(),
    exposedPorts: z
      .array(z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d{1,5}(\/(tcp|udp))?$/)]))
      .optional(),
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
    secrets: z
      .strictObject({
        allow: z
          .array(
            z.strictObject({
              path: glob.optional(),
              rule: z.string().optional(),
              line: z.number().int().min(1).optional(),
            }),
          )
          .default([]),
      })
      .optional()
      .describe(
        'allowlist for the secret scan (false positives): path globs match the path in the image, e.g. app/test/**',
      ),
  })
  .describe('fixity.yaml: what `fixity build` turns into a reproducible OCI image');

export type BuildSpec = z.infer<typeof buildSpecSchema>;
export type LayerSpec = z.infer<typeof layerSchema>;

/** An invalid fixity.yaml, with one line per problem (key path and what was expected). */
export class SpecError extends BaseError<'SPEC_INVALID'> {
  readonly issues: string[];
  constructor(file: string, issues: string[]) {
    super('SPEC_INVALID', `Cannot use ${file}:\n  ${issues.join('\n  ')}`, { detail: { file, issues } });
    this.issues = issues;
  }
}

/** Validates a parsed document; every problem is reported with its key path and what was expected. */
export function parseBuildSpec(doc: unknown, file = 'fixity.yaml'): BuildSpec {
  const result = buildSpecSchema.safeParse(doc);
  if (result.success) return result.data;
  throw new SpecError(
    file,
    result.error.issues.map((issue) => describeSpecIssue(buildSpecSchema, issue)),
  );
}

/** Reads and validates `fixity.yaml` (builds read it through spec-file.ts, which remembers valid ones). */
export async function loadBuildSpec(path: string): Promise<BuildSpec> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SpecError(path, [
      err.code === 'ENOENT' ? 'no such file: write a fixity.yaml (see README "fixity.yaml")' : err.message,
    ]);
  });
  return parseBuildSpecText(text, path);
}

/** Parses and validates the text of a fixity.yaml (YAML 1.2; duplicate keys are errors). */
export function parseBuildSpecText(text: string, path: string): BuildSpec {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0)
    throw new SpecError(
      path,
      doc.errors.map((e) => e.message),
    );
  return parseBuildSpec(doc.toJS(), path);
}

/** The JSON Schema editors use for fixity.yaml (written to schema/fixity.schema.json). */
export function buildSpecJSONSchema(): object {
  return { $id: 'https://fixity.dev/schema/fixity.schema.json', ...z.toJSONSchema(buildSpecSchema, { io: 'input' }) };
}
