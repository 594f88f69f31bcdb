import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { COSIGN_VULN, GRYPE_REPORT, TRIVY_REPORT } from './test-samples.ts';
import {
  parseCosignVulnPredicate,
  parseGrypeReport,
  parseTrivyReport,
  parseVulnerabilityReport,
} from './vulnerabilities.ts';

describe('parseTrivyReport()', () => {
  it('parseTrivyReport() counts by severity and counts a CVE found in two targets once', () => {
    const s = parseTrivyReport(TRIVY_REPORT);
    assert.deepEqual(
      { critical: s.critical, high: s.high, medium: s.medium, low: s.low, unknown: s.unknown, total: s.total },
      { critical: 1, high: 1, medium: 1, low: 1, unknown: 1, total: 5 },
    );
    assert.equal(s.scanner, 'trivy');
    assert.deepEqual(s.findings[0], {
      id: 'CVE-2023-4911',
      severity: 'high',
      package: 'libc6',
      version: '2.36-9+deb12u1',
      fixedVersion: '2.36-9+deb12u3',
    });
  });

  it('parseTrivyReport() reads a clean report (no Vulnerabilities keys) as zero findings', () => {
    const s = parseTrivyReport({ SchemaVersion: 2, ArtifactName: 'x', Results: [{ Target: 'x', Class: 'os-pkgs' }] });
    assert.equal(s.total, 0);
  });

  it('parseTrivyReport() names the bad field when a finding is malformed', () => {
    assert.throws(
      () =>
        parseTrivyReport({ SchemaVersion: 2, ArtifactName: 'x', Results: [{ Vulnerabilities: [{ PkgName: 'a' }] }] }),
      (err) =>
        isErrorWithCode(err, 'EVIDENCE_INVALID') &&
        /Results\[0\]\.Vulnerabilities\[0\]\.VulnerabilityID/.test(err.message),
    );
  });
});

describe('parseGrypeReport()', () => {
  it('parseGrypeReport() folds Negligible into low and keeps the scanner version', () => {
    const s = parseGrypeReport(GRYPE_REPORT);
    assert.deepEqual(
      { critical: s.critical, high: s.high, medium: s.medium, low: s.low, unknown: s.unknown, total: s.total },
      { critical: 1, high: 1, medium: 0, low: 1, unknown: 1, total: 4 },
    );
    assert.equal(s.scanner, 'grype 0.74.0');
    assert.equal(s.findings.find((f) => f.id === 'GHSA-c2qf-rxjj-qqgw')?.fixedVersion, '7.5.2');
  });

  it('parseGrypeReport() rejects a match without an artifact', () => {
    assert.throws(() => parseGrypeReport({ matches: [{ vulnerability: { id: 'x' } }] }), /matches\[0\]\.artifact/);
  });
});

describe('parseCosignVulnPredicate()', () => {
  it('parseCosignVulnPredicate() reads the Trivy report inside scanner.result', () => {
    assert.equal(parseCosignVulnPredicate(COSIGN_VULN).critical, 1);
  });

  it('parseCosignVulnPredicate() reads a Grype report inside scanner.result', () => {
    const s = parseCosignVulnPredicate({ ...COSIGN_VULN, scanner: { ...COSIGN_VULN.scanner, result: GRYPE_REPORT } });
    assert.equal(s.scanner, 'grype 0.74.0');
  });

  it('parseCosignVulnPredicate() refuses a result it cannot read rather than reporting zero findings', () => {
    assert.throws(
      () => parseCosignVulnPredicate({ scanner: { uri: 'pkg:x', result: { findings: [] } } }),
      /neither a Trivy nor a Grype/,
    );
  });
});

describe('parseVulnerabilityReport()', () => {
  it('parseVulnerabilityReport() tells the three formats apart', () => {
    assert.equal(parseVulnerabilityReport(TRIVY_REPORT).scanner, 'trivy');
    assert.equal(parseVulnerabilityReport(GRYPE_REPORT).scanner, 'grype 0.74.0');
    assert.equal(parseVulnerabilityReport(COSIGN_VULN).total, 5);
    assert.throws(() => parseVulnerabilityReport({ hello: 'world' }), /not a Trivy report/);
  });
});
