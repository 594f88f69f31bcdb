import { type CelError, type CelInput, celError } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { PolicyError } from './policy-error.ts';
import {
  isCycloneDxType,
  isSpdxType,
  PROVENANCE_TYPES,
  type ProvenanceSummary,
  parseProvenance,
  parseSbom,
  parseTestResult,
  type SbomSummary,
  TEST_RESULT_TYPE,
  type TestSummary,
} from './predicates.ts';
import {
  COSIGN_VULN_PREDICATE_TYPE,
  isGrypeReport,
  isTrivyReport,
  parseVulnerabilityReport,
  type VulnerabilitySummary,
} from './vulnerabilities.ts';

/**
 * The CEL variables a gate sees. Integers are CEL `int`, times are `google.protobuf.Timestamp`; a field shown as
 * `?` is absent when unknown (test it with `has(…)`); a variable shown as `| null` is null without its evidence.
 *
 * | variable          | CEL type                                                                                   | from |
 * |-------------------|--------------------------------------------------------------------------------------------|------|
 * | `artifact`        | `{digest, repository: string, tags: list(string), annotations: map(string, string), created?: timestamp}` | the manifest and its config |
 * | `signatures`      | `list({keyId, role: string, verified: bool})`                                              | verified signatures over the digest |
 * | `attestations`    | `map(string, dyn)`: predicate type → predicate (the newest of that type)                   | verified in-toto statements |
 * | `provenance`      | `{builderId, buildType?, sourceRepository?, revision?: string} \| null`                    | SLSA provenance v1 / v0.2 |
 * | `sbom`            | `{format: string, packages: list({name, version, license: string}), licenses: list(string)} \| null` | SPDX 2.x / CycloneDX JSON |
 * | `vulnerabilities` | `{scanner: string, critical, high, medium, low, unknown, total: int, findings: list({id, severity, package, version, fixedVersion: string})} \| null` | cosign vuln predicate, raw Trivy or Grype JSON |
 * | `tests`           | `{result: string, passed, failed, warned: int, url?: string} \| null`                      | in-toto test-result v0.1 |
 * | `approvals`       | `list({user, stage: string, at: timestamp, comment: string})`                              | approvals of this digest |
 * | `stages`          | `map(string, {verifiedSince?, promotedAt?: timestamp})`: stage → where this digest has been | the promotion history |
 * | `now`             | `timestamp`                                                                                 | the evaluation's clock |
 *
 * A projection whose attestation is present but unreadable is a CEL error value: every gate that reads it fails
 * with the reason, while the other gates are unaffected.
 */
export interface EvidenceInput {
  artifact: {
    digest: string;
    repository: string;
    tags?: readonly string[];
    annotations?: Readonly<Record<string, string>>;
    created?: Date | string;
  };
  signatures?: readonly Signature[];
  /** Verified statements only (the trust room checks them), oldest first: the newest of a type wins. */
  attestations?: readonly { predicateType: string; predicate: unknown }[];
  approvals?: readonly { user: string; stage: string; at: Date | string; comment?: string }[];
  stages?: Readonly<Record<string, { verifiedSince?: Date | string; promotedAt?: Date | string }>>;
  now: Date;
}

export interface Signature {
  keyId: string;
  role: string;
  verified: boolean;
}

/** The evidence as plain JSON (times as RFC 3339 strings): what `observed` reports and what a record stores. */
export interface EvidenceValues {
  artifact: {
    digest: string;
    repository: string;
    tags: string[];
    annotations: Record<string, string>;
    created?: string;
  };
  signatures: Signature[];
  attestations: Record<string, unknown>;
  provenance: ProvenanceSummary | null;
  sbom: SbomSummary | null;
  vulnerabilities: VulnerabilitySummary | null;
  tests: TestSummary | null;
  approvals: Array<{ user: string; stage: string; at: string; comment: string }>;
  stages: Record<string, { verifiedSince?: string; promotedAt?: string }>;
  now: string;
}

export type Projection = 'provenance' | 'sbom' | 'vulnerabilities' | 'tests';

/** Built once per promotion and handed to `evaluate` for every gate. */
export interface EvidenceContext {
  readonly values: EvidenceValues;
  readonly activation: Readonly<Record<string, CelInput | CelError>>;
  /** Projections whose attestation could not be read, with the reason. */
  readonly problems: Readonly<Partial<Record<Projection, string>>>;
}

/** Turns typed evidence into the CEL activation; throws PolicyError only for input that breaks the types above. */
export function buildEvidenceContext(input: EvidenceInput): EvidenceContext {
  const statements = input.attestations ?? [];
  const newest = (match: (type: string, predicate: unknown) => boolean) =>
    statements.findLast((s) => match(s.predicateType, s.predicate));
  const problems: Partial<Record<Projection, string>> = {};
  const project = <T>(name: Projection, found: { predicate: unknown } | undefined, parse: (p: unknown) => T) => {
    if (found === undefined) return null;
    try {
      return parse(found.predicate);
    } catch (err) {
      problems[name] = `${name}: ${err instanceof Error ? err.message : String(err)}`;
      return null;
    }
  };
  const sbomStatement = newest((type) => isSpdxType(type) || isCycloneDxType(type));
  const values: EvidenceValues = {
    artifact: {
      digest: text(input.artifact.digest, 'artifact.digest'),
      repository: text(input.artifact.repository, 'artifact.repository'),
      tags: [...(input.artifact.tags ?? [])],
      annotations: { ...input.artifact.annotations },
      ...optionalTime('created', input.artifact.created, 'artifact.created'),
    },
    signatures: (input.signatures ?? []).map((s) => ({ keyId: s.keyId, role: s.role, verified: s.verified === true })),
    attestations: Object.fromEntries(statements.map((s) => [text(s.predicateType, 'predicateType'), s.predicate])),
    provenance: project(
      'provenance',
      newest((t) => (PROVENANCE_TYPES as readonly string[]).includes(t)),
      parseProvenance,
    ),
    sbom: project('sbom', sbomStatement, (p) =>
      parseSbom(p, isSpdxType(sbomStatement?.predicateType ?? '') ? 'spdx' : 'cyclonedx'),
    ),
    vulnerabilities: project(
      'vulnerabilities',
      newest((t, p) => t === COSIGN_VULN_PREDICATE_TYPE || isTrivyReport(p) || isGrypeReport(p)),
      parseVulnerabilityReport,
    ),
    tests: project(
      'tests',
      newest((t) => t === TEST_RESULT_TYPE),
      parseTestResult,
    ),
    approvals: (input.approvals ?? []).map((a, i) => ({
      user: text(a.user, `approvals[${i}].user`),
      stage: text(a.stage, `approvals[${i}].stage`),
      at: time(a.at, `approvals[${i}].at`),
      comment: a.comment ?? '',
    })),
    stages: Object.fromEntries(
      Object.entries(input.stages ?? {}).map(([name, s]) => [
        name,
        {
          ...optionalTime('verifiedSince', s.verifiedSince, `stages.${name}.verifiedSince`),
          ...optionalTime('promotedAt', s.promotedAt, `stages.${name}.promotedAt`),
        },
      ]),
    ),
    now: time(input.now, 'now'),
  };
  return { values, activation: toActivation(values, problems), problems };
}

function toActivation(
  v: EvidenceValues,
  problems: Partial<Record<Projection, string>>,
): Record<string, CelInput | CelError> {
  const projection = <T>(name: Projection, value: T | null, convert: (x: T) => CelInput): CelInput | CelError => {
    const problem = problems[name];
    if (problem !== undefined) return celError(problem);
    return value === null ? null : convert(value);
  };
  const counts = (x: object) =>
    Object.fromEntries(Object.entries(x).map(([k, n]) => [k, typeof n === 'number' ? BigInt(n) : (n as CelInput)]));
  return {
    artifact: { ...v.artifact, ...(v.artifact.created ? { created: ts(v.artifact.created) } : {}) },
    signatures: json(v.signatures),
    attestations: json(v.attestations),
    provenance: projection('provenance', v.provenance, json),
    sbom: projection('sbom', v.sbom, json),
    vulnerabilities: projection('vulnerabilities', v.vulnerabilities, counts),
    tests: projection('tests', v.tests, counts),
    approvals: v.approvals.map((a) => ({ ...a, at: ts(a.at) })),
    stages: Object.fromEntries(
      Object.entries(v.stages).map(([name, s]) => [
        name,
        Object.fromEntries(Object.entries(s).map(([k, at]) => [k, ts(at)])),
      ]),
    ),
    now: ts(v.now),
  };
}

// Plain JSON (strings, booleans, lists, objects) is CEL input as it is; numbers become doubles, so ints are converted.
function json(value: unknown): CelInput {
  return value as CelInput;
}

function ts(iso: string): CelInput {
  return timestampFromDate(new Date(iso));
}

function time(value: Date | string, at: string): string {
  const date = value instanceof Date ? value : new Date(typeof value === 'string' ? value : Number.NaN);
  if (Number.isNaN(date.getTime())) throw invalid(`${at} is not a valid time`);
  return date.toISOString();
}

function optionalTime<K extends string>(
  key: K,
  value: Date | string | undefined,
  at: string,
): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: time(value, at) } as Record<K, string>);
}

function text(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${at} is not a non-empty string`);
  return value;
}

function invalid(reason: string): PolicyError {
  return new PolicyError('EVIDENCE_INVALID', `Cannot build the evidence context: ${reason}`);
}
