import { PolicyError } from './policy-error.ts';

/** Severities as gates see them: scanners' own words folded into these five (Grype's "Negligible" counts as low). */
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'unknown';

export interface VulnerabilityFinding {
  id: string;
  severity: Severity;
  package: string;
  version: string;
  /** Empty when the scanner knows no fixed version. */
  fixedVersion: string;
}

/** The `vulnerabilities` CEL variable: counts by severity over findings de-duplicated by (id, package, version). */
export interface VulnerabilitySummary extends Record<Severity, number> {
  /** "trivy 0.50.1", "grype 0.74.0" (version when the report names it). */
  scanner: string;
  total: number;
  findings: VulnerabilityFinding[];
}

/** in-toto predicate type cosign (and `trivy --format cosign-vuln`) attests scan results under. */
export const COSIGN_VULN_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/vuln/v1';

type Json = Record<string, unknown>;

/** Reads a Trivy JSON report (`trivy image --format json`, SchemaVersion 2). */
export function parseTrivyReport(doc: unknown): VulnerabilitySummary {
  const report = record(doc, 'the Trivy report');
  const results = optionalArray(report.Results, 'Results');
  const findings = results.flatMap((result, i) => {
    const vulns = optionalArray(record(result, `Results[${i}]`).Vulnerabilities, `Results[${i}].Vulnerabilities`);
    return vulns.map((v, j): VulnerabilityFinding => {
      const at = `Results[${i}].Vulnerabilities[${j}]`;
      const vuln = record(v, at);
      return {
        id: text(vuln.VulnerabilityID, `${at}.VulnerabilityID`),
        severity: severity(vuln.Severity),
        package: text(vuln.PkgName, `${at}.PkgName`),
        version: optionalText(vuln.InstalledVersion),
        fixedVersion: optionalText(vuln.FixedVersion),
      };
    });
  });
  const version = optionalText((report.Trivy as Json | undefined)?.Version);
  return summarize(version ? `trivy ${version}` : 'trivy', findings);
}

/** Reads a Grype JSON report (`grype -o json`). */
export function parseGrypeReport(doc: unknown): VulnerabilitySummary {
  const report = record(doc, 'the Grype report');
  const findings = optionalArray(report.matches, 'matches').map((m, i): VulnerabilityFinding => {
    const match = record(m, `matches[${i}]`);
    const vuln = record(match.vulnerability, `matches[${i}].vulnerability`);
    const artifact = record(match.artifact, `matches[${i}].artifact`);
    const fixes = (vuln.fix as Json | undefined)?.versions;
    return {
      id: text(vuln.id, `matches[${i}].vulnerability.id`),
      severity: severity(vuln.severity),
      package: text(artifact.name, `matches[${i}].artifact.name`),
      version: optionalText(artifact.version),
      fixedVersion: Array.isArray(fixes) ? fixes.filter((f) => typeof f === 'string').join(', ') : '',
    };
  });
  const version = optionalText((report.descriptor as Json | undefined)?.version);
  return summarize(version ? `grype ${version}` : 'grype', findings);
}

/** Reads the cosign vuln predicate; its `scanner.result` must be a Trivy or Grype report. */
export function parseCosignVulnPredicate(doc: unknown): VulnerabilitySummary {
  const scanner = record(record(doc, 'the cosign vuln predicate').scanner, 'scanner');
  const result = scanner.result;
  if (!isTrivyReport(result) && !isGrypeReport(result)) {
    throw invalid('scanner.result is neither a Trivy nor a Grype JSON report');
  }
  return isTrivyReport(result) ? parseTrivyReport(result) : parseGrypeReport(result);
}

/** Reads any of the three formats, told apart by their shape. */
export function parseVulnerabilityReport(doc: unknown): VulnerabilitySummary {
  if (isTrivyReport(doc)) return parseTrivyReport(doc);
  if (isGrypeReport(doc)) return parseGrypeReport(doc);
  if (isCosignVulnPredicate(doc)) return parseCosignVulnPredicate(doc);
  throw invalid('not a Trivy report, a Grype report or a cosign vuln predicate');
}

export function isTrivyReport(doc: unknown): boolean {
  return isRecord(doc) && typeof doc.SchemaVersion === 'number' && 'ArtifactName' in doc;
}

export function isGrypeReport(doc: unknown): boolean {
  return isRecord(doc) && Array.isArray(doc.matches) && (doc.descriptor as Json | undefined)?.name === 'grype';
}

export function isCosignVulnPredicate(doc: unknown): boolean {
  return isRecord(doc) && isRecord(doc.scanner) && 'result' in doc.scanner;
}

function summarize(scanner: string, all: VulnerabilityFinding[]): VulnerabilitySummary {
  // A CVE in one package shows up once per target (Trivy) or per match path (Grype); count it once.
  const unique = new Map(all.map((f) => [`${f.id}\0${f.package}\0${f.version}`, f]));
  const findings = [...unique.values()];
  const summary: VulnerabilitySummary = {
    scanner,
    critical: 0,
    high: 0,
    medium: 0,
    low: 0,
    unknown: 0,
    total: findings.length,
    findings,
  };
  for (const f of findings) summary[f.severity] += 1;
  return summary;
}

function severity(value: unknown): Severity {
  const word = typeof value === 'string' ? value.toLowerCase() : '';
  if (word === 'negligible') return 'low';
  return word === 'critical' || word === 'high' || word === 'medium' || word === 'low' ? word : 'unknown';
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, at: string): Json {
  if (!isRecord(value)) throw invalid(`${at} is not an object`);
  return value;
}

function optionalArray(value: unknown, at: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${at} is not a list`);
  return value;
}

function text(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${at} is not a non-empty string`);
  return value;
}

function optionalText(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function invalid(reason: string): PolicyError {
  return new PolicyError('EVIDENCE_INVALID', `Cannot read the vulnerability report: ${reason}`);
}
