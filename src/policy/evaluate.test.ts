import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy, type GateSource } from './compile.ts';
import { COST_BUDGET } from './cost.ts';
import { evaluate, type GateResult } from './evaluate.ts';
import { buildEvidenceContext, type EvidenceInput } from './evidence.ts';
import { PRODUCTION_GATES, sampleEvidence, TRIVY_REPORT } from './test-samples.ts';

function run(gates: GateSource[], input: EvidenceInput = sampleEvidence()): GateResult[] {
  return [...evaluate(compilePolicy(gates), buildEvidenceContext(input)).gates];
}

function one(expression: string, input?: EvidenceInput): GateResult {
  return run([{ name: 'g', expression }], input)[0]!;
}

describe('evaluate()', () => {
  it('evaluate() passes a realistic ten-gate production policy and pins the policy digest', () => {
    const policy = compilePolicy(PRODUCTION_GATES);
    const result = evaluate(policy, buildEvidenceContext(sampleEvidence()));
    assert.deepEqual(
      result.gates.filter((g) => !g.passed),
      [],
    );
    assert.equal(result.passed, true);
    assert.equal(result.digest, policy.digest);
  });

  it('evaluate() explains a false gate with the expression and the values it saw', () => {
    const input = {
      ...sampleEvidence(),
      signatures: [{ keyId: 'SHA256:builder-key', role: 'builder', verified: true }],
    };
    const gate = run(PRODUCTION_GATES, input)[0]!;
    assert.deepEqual(gate, {
      name: 'signed-by-release-key',
      expression: PRODUCTION_GATES[0]!.expression,
      passed: false,
      observed: { 'signatures[].verified': [true], 'signatures[].role': ['builder'] },
    });
  });

  it('evaluate() reports the values of fields, map keys and timestamps it read', () => {
    const gate = one(
      "now - stages.staging.verifiedSince >= duration('48h') && artifact.annotations['team'] == 'payments'",
    );
    assert.equal(gate.passed, false);
    assert.deepEqual(gate.observed, {
      now: '2024-05-03T10:00:00.000Z',
      'stages.staging.verifiedSince': '2024-05-02T12:00:00.000Z',
      'artifact.annotations.team': 'payments',
    });
  });

  it('evaluate() fails a gate on a CEL error, with the reason, never passing it', () => {
    const divide = one('1 / (size(signatures) - 2) == 1');
    assert.equal(divide.passed, false);
    assert.match(divide.error ?? '', /divide by zero/);
    const missing = one('stages.production.promotedAt < now');
    assert.equal(missing.passed, false);
    assert.match(missing.error ?? '', /production.*has\(…\)/);
  });

  it('evaluate() fails a gate whose answer is not a bool', () => {
    const gate = one("attestations['https://slsa.dev/provenance/v1'].buildDefinition.buildType");
    assert.equal(gate.passed, false);
    assert.equal(gate.error, 'gives string, not a bool');
    assert.equal(one('vulnerabilities.critical + 1').error, 'gives int, not a bool');
  });

  it('evaluate() says which attestation is missing when a projection is null', () => {
    const input = { ...sampleEvidence(), attestations: [] };
    const [critical, guarded] = run(
      [
        { name: 'a', expression: 'vulnerabilities.critical == 0' },
        { name: 'b', expression: 'vulnerabilities == null || vulnerabilities.critical == 0' },
      ],
      input,
    );
    assert.match(critical?.error ?? '', /^vulnerabilities is null: no vulnerability scan/);
    assert.equal(guarded?.passed, true);
  });

  it('evaluate() fails only the gates that read an unreadable attestation', () => {
    const input = {
      ...sampleEvidence(),
      attestations: [
        { predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1', predicate: { scanner: { result: 7 } } },
      ],
    };
    const [vulns, other] = run(
      [
        { name: 'v', expression: 'vulnerabilities == null || vulnerabilities.critical == 0' },
        { name: 'o', expression: "artifact.repository != ''" },
      ],
      input,
    );
    assert.equal(vulns?.passed, false);
    assert.match(vulns?.error ?? '', /vulnerabilities: Cannot read the vulnerability report/);
    assert.equal(other?.passed, true);
  });

  it('evaluate() reports a gate that does not compile as failed with its position', () => {
    const gate = one('vulnerabilities.critcal == 0');
    assert.equal(gate.passed, false);
    assert.match(gate.error ?? '', /^does not compile: 1:16: unknown field "critcal"/);
  });

  it('evaluate() refuses, quickly and clearly, a quadratic gate over a huge SBOM', () => {
    const packages = Array.from({ length: 20_000 }, (_, i) => ({
      name: `p${i}`,
      versionInfo: '1.0.0',
      licenseDeclared: 'MIT',
    }));
    const input = {
      ...sampleEvidence(),
      attestations: [{ predicateType: 'https://spdx.dev/Document', predicate: { packages } }],
    };
    const started = performance.now();
    const gate = one('sbom.packages.all(p, sbom.packages.exists(q, q.name == p.name))', input);
    assert.ok(performance.now() - started < 1000);
    assert.equal(gate.passed, false);
    assert.match(
      gate.error ?? '',
      /^not evaluated: about \d+ steps walking sbom\.packages \(20000\); the limit is 1000000$/,
    );
    assert.equal(one("sbom.packages.all(p, p.license == 'MIT')", input).passed, true);
  });

  it('evaluate() refuses infinite-looking nested comprehensions over literals before running them', () => {
    const hundred = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`;
    const started = performance.now();
    const gate = one(`${hundred}.all(a, ${hundred}.all(b, ${hundred}.all(c, a + b + c >= 0)))`);
    assert.ok(performance.now() - started < 500);
    assert.match(gate.error ?? '', /^not evaluated: about \d+ steps/);
    assert.equal(one(`${hundred}.all(a, ${hundred}.exists(b, a == b))`).passed, true);
  });

  it('evaluate() keeps a gate over the largest accepted input within about half a second', () => {
    const packages = Array.from({ length: 60_000 }, (_, i) => ({
      name: `p${i}`,
      versionInfo: '1.0.0',
      licenseDeclared: 'MIT',
    }));
    const input = {
      ...sampleEvidence(),
      attestations: [{ predicateType: 'https://spdx.dev/Document', predicate: { packages } }],
    };
    const started = performance.now();
    const gate = one("sbom.packages.all(p, p.name.startsWith('p') && p.license in ['MIT', 'ISC'])", input);
    assert.equal(gate.passed, true, gate.error);
    assert.ok(performance.now() - started < 2000, 'bounded by the cost budget');
  });

  it('evaluate() budgets comprehensions over raw predicates by their measured size', () => {
    const statement = {
      predicateType: 'https://example.com/custom',
      predicate: { items: Array.from({ length: 5000 }, (_, i) => i) },
    };
    const input = { ...sampleEvidence(), attestations: [statement] };
    const gate = one(
      "attestations['https://example.com/custom'].items.all(i, attestations['https://example.com/custom'].items.exists(j, j == i))",
      input,
    );
    assert.match(gate.error ?? '', /not evaluated/);
    assert.ok(COST_BUDGET >= 1_000_000);
  });

  it('evaluate() is pinned to the compiled policy: editing the gate list afterwards changes nothing', () => {
    const gates = [{ name: 'g', expression: 'true' }];
    const policy = compilePolicy(gates);
    gates[0]!.expression = 'false';
    const result = evaluate(policy, buildEvidenceContext(sampleEvidence()));
    assert.equal(result.passed, true);
    assert.equal(result.gates[0]?.expression, 'true');
  });

  it('evaluate() never throws and never passes a gate with an error (property)', () => {
    const policy = compilePolicy(PRODUCTION_GATES);
    const arbitraryInput = fc.record({
      signatures: fc.array(
        fc.record({ keyId: fc.string(), role: fc.constantFrom('release', 'builder', ''), verified: fc.boolean() }),
      ),
      tags: fc.array(fc.string()),
      scan: fc.option(fc.constantFrom(TRIVY_REPORT, { SchemaVersion: 2, ArtifactName: 'x' }, { junk: true }, null)),
      hoursAgo: fc.integer({ min: -100, max: 10_000 }),
    });
    fc.assert(
      fc.property(arbitraryInput, ({ signatures, tags, scan, hoursAgo }) => {
        const base = sampleEvidence();
        const input: EvidenceInput = {
          ...base,
          artifact: { ...base.artifact, tags },
          signatures,
          attestations: scan == null ? [] : [{ predicateType: 'https://example.com/scan', predicate: scan }],
          stages: { staging: { verifiedSince: new Date(base.now.getTime() - hoursAgo * 3_600_000) } },
        };
        const result = evaluate(policy, buildEvidenceContext(input));
        for (const gate of result.gates) if (gate.error !== undefined) assert.equal(gate.passed, false);
        assert.equal(
          result.passed,
          result.gates.every((g) => g.passed),
        );
      }),
      { numRuns: 200 },
    );
  });
});
