import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { compilePolicy } from './compile.ts';
import { evaluate } from './evaluate.ts';
import { buildEvidenceContext } from './evidence.ts';
import { CYCLONEDX_SBOM, GRYPE_REPORT, sampleEvidence, TRIVY_REPORT } from './test-samples.ts';

const check = (expression: string, input = sampleEvidence()) =>
  evaluate(compilePolicy([{ name: 'g', expression }]), buildEvidenceContext(input)).gates[0]!;

describe('buildEvidenceContext()', () => {
  it('buildEvidenceContext() projects provenance, SBOM, scan and tests from the attestations', () => {
    const { values, problems } = buildEvidenceContext(sampleEvidence());
    assert.deepEqual(problems, {});
    assert.equal(values.provenance?.sourceRepository, 'https://github.com/example/shop');
    assert.equal(values.sbom?.format, 'spdx');
    assert.deepEqual(
      { critical: values.vulnerabilities?.critical, medium: values.vulnerabilities?.medium },
      { critical: 0, medium: 1 },
    );
    assert.equal(values.tests?.passed, 4);
    assert.equal(values.artifact.created, '2024-05-02T09:01:10.000Z');
    assert.deepEqual(Object.keys(values.attestations).length, 4);
  });

  it('buildEvidenceContext() gives CEL ints and timestamps, so arithmetic and comparisons type-check', () => {
    assert.equal(
      check('vulnerabilities.medium == 1 && vulnerabilities.medium + 1 == 2 && tests.warned < 2').passed,
      true,
    );
    assert.equal(check("now - artifact.created > duration('24h') && approvals[0].at < now").passed, true);
    assert.equal(check('stages.test.promotedAt < stages.test.verifiedSince && !has(stages.production)').passed, true);
  });

  it('buildEvidenceContext() takes the newest attestation of each kind (input is oldest first)', () => {
    const base = sampleEvidence();
    const input = {
      ...base,
      attestations: [
        ...base.attestations,
        { predicateType: 'https://example.com/grype', predicate: GRYPE_REPORT },
        { predicateType: 'https://cyclonedx.org/bom/v1.6', predicate: CYCLONEDX_SBOM },
      ],
    };
    const { values } = buildEvidenceContext(input);
    assert.equal(values.vulnerabilities?.scanner, 'grype 0.74.0');
    assert.equal(values.sbom?.format, 'cyclonedx');
  });

  it('buildEvidenceContext() accepts a raw Trivy report attested under any predicate type', () => {
    const input = {
      ...sampleEvidence(),
      attestations: [{ predicateType: 'https://trivy.dev/report', predicate: TRIVY_REPORT }],
    };
    assert.equal(buildEvidenceContext(input).values.vulnerabilities?.critical, 1);
    assert.equal(
      check('vulnerabilities.findings.exists(f, f.id == "CVE-2024-2961" && f.fixedVersion == "")', input).passed,
      true,
    );
  });

  it('buildEvidenceContext() records an unreadable projection as a problem instead of throwing', () => {
    const input = {
      ...sampleEvidence(),
      attestations: [{ predicateType: 'https://slsa.dev/provenance/v1', predicate: { buildDefinition: {} } }],
    };
    const context = buildEvidenceContext(input);
    assert.match(context.problems.provenance ?? '', /runDetails\.builder\.id is missing/);
    assert.equal(context.values.provenance, null);
  });

  it('buildEvidenceContext() rejects input that breaks its types, naming the field', () => {
    const bad = { ...sampleEvidence(), approvals: [{ user: 'alice', stage: 'production', at: 'yesterday' }] };
    assert.throws(
      () => buildEvidenceContext(bad),
      (err) => isErrorWithCode(err, 'EVIDENCE_INVALID') && /approvals\[0\]\.at is not a valid time/.test(err.message),
    );
    assert.throws(
      () => buildEvidenceContext({ ...sampleEvidence(), artifact: { digest: '', repository: 'r' } }),
      /artifact\.digest/,
    );
  });
});
