import { PolicyError } from './policy-error.ts';

/** The `provenance` CEL variable; a field is absent when the predicate does not say it. */
export interface ProvenanceSummary {
  builderId: string;
  buildType?: string;
  sourceRepository?: string;
  revision?: string;
}

export interface SbomPackage {
  name: string;
  version: string;
  /** SPDX license expression; "NOASSERTION" when the SBOM does not say. */
  license: string;
}

/** The `sbom` CEL variable. */
export interface SbomSummary {
  format: 'spdx' | 'cyclonedx';
  packages: SbomPackage[];
  /** Distinct license identifiers named by any package's expression, sorted. */
  licenses: string[];
}

/** The `tests` CEL variable, from the in-toto test-result predicate. */
export interface TestSummary {
  result: string;
  passed: number;
  failed: number;
  warned: number;
  url?: string;
}

export const PROVENANCE_TYPES = ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v0.2'] as const;
export const TEST_RESULT_TYPE = 'https://in-toto.io/attestation/test-result/v0.1';
export const isSpdxType = (type: string): boolean => type.startsWith('https://spdx.dev/Document');
export const isCycloneDxType = (type: string): boolean => type.startsWith('https://cyclonedx.org/bom');

type Json = Record<string, unknown>;
const OPERATORS = new Set(['AND', 'OR', 'WITH', 'and', 'or', 'with']);

/** Projects SLSA provenance v1 or v0.2 (Fixity's own, GitHub's generic generator, and the common shapes). */
export function parseProvenance(predicate: unknown): ProvenanceSummary {
  const p = obj(predicate);
  const v1 = obj(p.runDetails).builder !== undefined || p.buildDefinition !== undefined;
  if (v1) {
    const def = obj(p.buildDefinition);
    const ext = obj(def.externalParameters);
    const source = typeof ext.source === 'string' ? { uri: ext.source } : obj(ext.source ?? ext.workflow);
    const git = arr(def.resolvedDependencies)
      .map(obj)
      .find((d) => str(obj(d.digest).gitCommit) !== undefined);
    return compact<ProvenanceSummary>({
      builderId: required(str(obj(obj(p.runDetails).builder).id), 'runDetails.builder.id'),
      buildType: str(def.buildType),
      sourceRepository: repoOf(str(source.repository) ?? str(source.uri) ?? str(git?.uri)),
      revision: str(source.revision) ?? str(obj(source.digest).gitCommit) ?? str(obj(git?.digest).gitCommit),
    });
  }
  const config = obj(obj(p.invocation).configSource);
  const material = obj(arr(p.materials)[0]);
  return compact<ProvenanceSummary>({
    builderId: required(str(obj(p.builder).id), 'builder.id'),
    buildType: str(p.buildType),
    sourceRepository: repoOf(str(config.uri) ?? str(material.uri)),
    revision: str(obj(config.digest).sha1) ?? str(obj(material.digest).sha1),
  });
}

/** Projects an SPDX 2.x JSON document or a CycloneDX JSON BOM (nested components flattened). */
export function parseSbom(predicate: unknown, format: SbomSummary['format']): SbomSummary {
  const doc = obj(predicate);
  const packages =
    format === 'spdx'
      ? arr(doc.packages)
          .map(obj)
          .filter((p) => p.primaryPackagePurpose !== 'CONTAINER')
          .map((p) => ({
            name: required(str(p.name), 'packages[].name'),
            version: str(p.versionInfo) ?? '',
            license: known(str(p.licenseConcluded)) ?? known(str(p.licenseDeclared)) ?? 'NOASSERTION',
          }))
      : flatten(arr(doc.components)).map((c) => ({
          name: [str(c.group), required(str(c.name), 'components[].name')].filter(Boolean).join('/'),
          version: str(c.version) ?? '',
          license: cycloneLicense(arr(c.licenses)) ?? 'NOASSERTION',
        }));
  const licenses = new Set(packages.flatMap((p) => p.license.split(/[\s()]+/).filter((t) => t && !OPERATORS.has(t))));
  return { format, packages, licenses: [...licenses].sort() };
}

/** Projects the in-toto test-result predicate v0.1 (counts of the named tests). */
export function parseTestResult(predicate: unknown): TestSummary {
  const p = obj(predicate);
  const url = str(p.url);
  return {
    result: required(str(p.result), 'result'),
    passed: arr(p.passedTests).length,
    failed: arr(p.failedTests).length,
    warned: arr(p.warnedTests).length,
    ...(url === undefined ? {} : { url }),
  };
}

function flatten(components: unknown[]): Json[] {
  return components.map(obj).flatMap((c) => [c, ...flatten(arr(c.components))]);
}

function cycloneLicense(entries: unknown[]): string | undefined {
  const ids = entries
    .map(obj)
    .map((e) => str(e.expression) ?? str(obj(e.license).id) ?? str(obj(e.license).name))
    .filter((id) => id !== undefined);
  // Several entries list licenses that all apply; a single expression is used as written.
  return ids.length === 0 ? undefined : ids.length === 1 ? ids[0] : ids.map((id) => `(${id})`).join(' AND ');
}

// "git+https://github.com/o/r@refs/heads/main" → "https://github.com/o/r"
function repoOf(uri: string | undefined): string | undefined {
  return uri?.replace(/^git\+/, '').replace(/@[^/@]*$|@refs\/.*$/, '');
}

function known(license: string | undefined): string | undefined {
  return license === undefined || license === 'NOASSERTION' || license === 'NONE' ? undefined : license;
}

function compact<T extends object>(value: { [K in keyof T]-?: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function required(value: string | undefined, at: string): string {
  if (value === undefined) throw new PolicyError('EVIDENCE_INVALID', `Cannot read the predicate: ${at} is missing`);
  return value;
}
