import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJSON, digestOf } from '../core/index.ts';
import { type CompileIssue, compilePolicy, MAX_EXPRESSION_LENGTH, MAX_GATES, policyDigest } from './compile.ts';

function issueOf(expression: string): CompileIssue {
  const policy = compilePolicy([{ name: 'g', expression }]);
  assert.equal(policy.issues.length, 1, `expected one issue for ${expression}, got ${JSON.stringify(policy.issues)}`);
  return policy.issues[0]!;
}

describe('compilePolicy()', () => {
  it('compilePolicy() compiles valid gates once and reports no issues', () => {
    const policy = compilePolicy([
      { name: 'signed', expression: "signatures.exists(s, s.verified && s.role == 'release')" },
      { name: 'no-critical', expression: 'vulnerabilities != null && vulnerabilities.critical == 0' },
      { name: 'soak', expression: "now - stages.staging.verifiedSince >= duration('2h')" },
      { name: 'source', expression: "provenance.sourceRepository.startsWith('https://github.com/example/')" },
      { name: 'raw', expression: "attestations['https://slsa.dev/provenance/v1'].buildDefinition.buildType != ''" },
      { name: 'tags', expression: "artifact.tags.exists(t, t.matches('^[0-9]+\\\\.[0-9]+\\\\.[0-9]+$'))" },
      { name: 'strings-ext', expression: "artifact.repository.split('/').size() == 2 && 'A'.lowerAscii() == 'a'" },
      { name: 'ternary', expression: "size(approvals) > 0 ? approvals.all(a, a.comment != '') : true" },
    ]);
    assert.deepEqual(policy.issues, []);
    assert.ok(policy.gates.every((g) => g.kind === 'ready'));
  });

  it('compilePolicy() gives syntax errors with the line and column of a multi-line expression', () => {
    const issue = issueOf('artifact.digest != ""\n  && signatures.exists(s, s.)');
    assert.equal(issue.line, 2);
    assert.match(issue.message, /^syntax error: /);
  });

  it('compilePolicy() names an unknown variable and lists the variables', () => {
    const issue = issueOf('artefact.digest != ""');
    assert.match(issue.message, /unknown variable "artefact"; the variables are artifact, signatures, attestations/);
    assert.equal(issue.column, 1);
  });

  it('compilePolicy() names a misspelled field and the fields it expected', () => {
    const issue = issueOf('vulnerabilities.critical == 0 && vulnerabilities.hihg == 0');
    assert.equal(
      issue.message,
      'unknown field "hihg" on vulnerabilities; expected one of scanner, critical, high, medium, low, unknown, total, findings',
    );
    assert.equal(issue.column, 49);
  });

  it('compilePolicy() checks fields inside comprehensions against the element shape', () => {
    assert.match(issueOf('signatures.exists(s, s.keyid == "k")').message, /unknown field "keyid" on signatures\[\]/);
    assert.match(
      issueOf('signatures.role == "release"').message,
      /signatures is a list: .*signatures\.exists\(x, x\.role/,
    );
    assert.match(issueOf('artifact.digest.sha == ""').message, /artifact\.digest is a string and has no field "sha"/);
    assert.match(issueOf('now.exists(x, true)').message, /cannot iterate over a timestamp/);
  });

  it('compilePolicy() rejects unknown functions and methods called as functions', () => {
    assert.equal(issueOf('artifact.digest.hasPrefix("sha256:")').message, 'unknown function "hasPrefix"');
    assert.match(
      issueOf('startsWith(artifact.digest, "sha256:")').message,
      /"startsWith" is a method: write x\.startsWith/,
    );
    assert.match(issueOf('artifact.tags.int()').message, /"int" is a function, not a method/);
  });

  it('compilePolicy() rejects gates that cannot give a bool', () => {
    assert.equal(issueOf('artifact.digest').message, 'a gate must give a bool, this gives string');
    // Arithmetic is dyn to the checker: a non-bool answer is then a failure at evaluation time.
    assert.deepEqual(compilePolicy([{ name: 'g', expression: 'vulnerabilities.critical + 1' }]).issues, []);
    assert.equal(issueOf('signatures.map(s, s.keyId)').message, 'a gate must give a bool, this gives list of dyn');
    assert.match(
      issueOf('google.protobuf.Timestamp{seconds: 1} == now').message,
      /message construction .* not supported/,
    );
  });

  it('compilePolicy() limits expression length and nesting without throwing', () => {
    const long = `artifact.digest == "${'a'.repeat(MAX_EXPRESSION_LENGTH)}"`;
    assert.match(issueOf(long).message, /characters; the limit is 4096/);
    assert.match(issueOf(`${'('.repeat(1500)}true${')'.repeat(1500)}`).message, /nests/);
    assert.match(issueOf(`${'['.repeat(150)}1${']'.repeat(150)} != []`).message, /nests deeper than 96 levels/);
    assert.match(issueOf(`${Array.from({ length: 150 }, (_, i) => i).join(' + ')} > 0`).message, /nests deeper/);
  });

  it('compilePolicy() reports duplicate, malformed and missing names and empty expressions per gate', () => {
    const policy = compilePolicy([
      { name: 'a', expression: 'true' },
      { name: 'a', expression: 'true' },
      { name: '9 lives', expression: 'true' },
      { name: 'empty', expression: '  ' },
    ]);
    assert.deepEqual(
      policy.gates.map((g) => g.kind),
      ['ready', 'invalid', 'invalid', 'invalid'],
    );
    assert.deepEqual(
      policy.issues.map((i) => i.gate),
      ['a', '9 lives', 'empty'],
    );
    const many = compilePolicy(
      Array.from({ length: MAX_GATES + 1 }, (_, i) => ({ name: `g${i}`, expression: 'true' })),
    );
    assert.match(many.issues[0]?.message ?? '', /at most 64 gates/);
  });

  it('compilePolicy() never throws on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 20 }), (expression, name) => {
        const policy = compilePolicy([{ name, expression }]);
        for (const issue of policy.issues) assert.ok(issue.line >= 1 && issue.column >= 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('policyDigest()', () => {
  it('policyDigest() is the sha256 of the canonical JSON of the gate list, in order', () => {
    const gates = [
      { name: 'b', expression: 'true' },
      { name: 'a', expression: 'now > artifact.created' },
    ];
    const policy = compilePolicy(gates);
    assert.equal(policy.digest, digestOf(canonicalJSON(gates)));
    assert.equal(policyDigest(policy), policy.digest);
    assert.notEqual(policyDigest({ gates: [...gates].reverse() }), policy.digest);
    assert.notEqual(policyDigest({ gates: [{ ...gates[0]!, expression: 'false' }, gates[1]!] }), policy.digest);
  });

  it('policyDigest() ignores fields other than name and expression', () => {
    const withExtra = [{ name: 'a', expression: 'true', description: 'x' }];
    assert.equal(policyDigest({ gates: withExtra }), policyDigest({ gates: [{ name: 'a', expression: 'true' }] }));
  });
});
