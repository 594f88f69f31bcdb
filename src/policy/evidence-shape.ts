/**
 * The static shape of every CEL variable, so a gate that misspells a field fails when it is compiled instead of
 * failing (closed, but puzzlingly) on every promotion. `dyn` marks values whose shape is not ours (raw predicates).
 */
export type Shape =
  | { readonly kind: 'scalar'; readonly type: ScalarType }
  | { readonly kind: 'dyn' }
  | { readonly kind: 'list'; readonly element: Shape }
  /** String keys chosen by the data (annotations, stage names, predicate types). */
  | { readonly kind: 'map'; readonly value: Shape }
  /** A closed set of fields; `nullable` when the whole value is null without its evidence. */
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, Shape>>; readonly nullable?: boolean };

export type ScalarType = 'string' | 'int' | 'double' | 'bool' | 'timestamp' | 'duration' | 'null';

const scalar = (type: ScalarType): Shape => ({ kind: 'scalar', type });
const list = (element: Shape): Shape => ({ kind: 'list', element });
const map = (value: Shape): Shape => ({ kind: 'map', value });
const object = (fields: Record<string, Shape>, nullable = false): Shape =>
  nullable ? { kind: 'object', fields, nullable } : { kind: 'object', fields };

export const STRING = scalar('string');
export const INT = scalar('int');
export const BOOL = scalar('bool');
export const TIMESTAMP = scalar('timestamp');
export const DYN: Shape = { kind: 'dyn' };

const VULNERABILITY_FINDING = object({
  id: STRING,
  severity: STRING,
  package: STRING,
  version: STRING,
  fixedVersion: STRING,
});

/** Shapes of the CEL variables; the table in evidence.ts documents the same. */
export const EVIDENCE_SHAPE: Readonly<Record<string, Shape>> = {
  artifact: object({
    digest: STRING,
    repository: STRING,
    tags: list(STRING),
    annotations: map(STRING),
    created: TIMESTAMP,
  }),
  signatures: list(object({ keyId: STRING, role: STRING, verified: BOOL })),
  attestations: map(DYN),
  provenance: object({ builderId: STRING, buildType: STRING, sourceRepository: STRING, revision: STRING }, true),
  sbom: object(
    {
      format: STRING,
      packages: list(object({ name: STRING, version: STRING, license: STRING })),
      licenses: list(STRING),
    },
    true,
  ),
  vulnerabilities: object(
    {
      scanner: STRING,
      critical: INT,
      high: INT,
      medium: INT,
      low: INT,
      unknown: INT,
      total: INT,
      findings: list(VULNERABILITY_FINDING),
    },
    true,
  ),
  tests: object({ result: STRING, passed: INT, failed: INT, warned: INT, url: STRING }, true),
  approvals: list(object({ user: STRING, stage: STRING, at: TIMESTAMP, comment: STRING })),
  stages: map(object({ verifiedSince: TIMESTAMP, promotedAt: TIMESTAMP })),
  now: TIMESTAMP,
};

/** Identifiers that name types (`type(x) == string`) rather than variables. */
export const TYPE_NAMES: ReadonlySet<string> = new Set([
  'bool',
  'bytes',
  'double',
  'int',
  'list',
  'map',
  'null_type',
  'string',
  'type',
  'uint',
]);

/** "string", "list", "map of …": how a shape reads in an error message. */
export function describeShape(shape: Shape): string {
  switch (shape.kind) {
    case 'scalar':
      return shape.type;
    case 'dyn':
      return 'dyn';
    case 'list':
      return `list of ${describeShape(shape.element)}`;
    case 'map':
      return 'map';
    case 'object':
      return 'object';
  }
}
