import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProvenance, parseSbom, parseTestResult } from './predicates.ts';
import {
  CYCLONEDX_SBOM,
  FIXITY_PROVENANCE,
  GITHUB_PROVENANCE,
  PROVENANCE_V02,
  SPDX_SBOM,
  TEST_RESULT,
} from './test-samples.ts';

const REVISION = '5f3c1a9e0b7d2c4f6a8e1b3d5c7f9a0b2d4e6f81';

describe('parseProvenance()', () => {
  it("parseProvenance() reads Fixity's own SLSA v1 provenance", () => {
    assert.deepEqual(parseProvenance(FIXITY_PROVENANCE), {
      builderId: 'https://fixity.dev/builders/v1',
      buildType: 'https://fixity.dev/buildtypes/oci-image@v1',
      sourceRepository: 'https://github.com/example/shop',
      revision: REVISION,
    });
  });

  it('parseProvenance() finds the source of the GitHub generator in its workflow and resolved dependencies', () => {
    const p = parseProvenance(GITHUB_PROVENANCE);
    assert.equal(p.sourceRepository, 'https://github.com/example/shop');
    assert.equal(p.revision, REVISION);
    assert.match(p.builderId, /slsa-github-generator/);
  });

  it('parseProvenance() reads SLSA v0.2 and strips git+ and the ref from the repository', () => {
    assert.deepEqual(parseProvenance(PROVENANCE_V02), {
      builderId: 'https://github.com/Attestations/GitHubHostedActions@v1',
      buildType: 'https://github.com/Attestations/GitHubActionsWorkflow@v1',
      sourceRepository: 'https://github.com/example/shop',
      revision: REVISION,
    });
  });

  it('parseProvenance() leaves unknown fields absent and refuses a provenance without a builder', () => {
    assert.deepEqual(parseProvenance({ runDetails: { builder: { id: 'b' } } }), { builderId: 'b' });
    assert.throws(() => parseProvenance({ buildDefinition: {} }), /runDetails\.builder\.id is missing/);
  });
});

describe('parseSbom()', () => {
  it('parseSbom() reads SPDX packages, preferring the concluded license and skipping the image itself', () => {
    const sbom = parseSbom(SPDX_SBOM, 'spdx');
    assert.deepEqual(sbom.packages, [
      { name: 'express', version: '4.18.2', license: 'MIT' },
      { name: 'semver', version: '7.5.1', license: 'ISC' },
      { name: 'dual', version: '1.0.0', license: '(MIT OR Apache-2.0)' },
      { name: 'mystery', version: '0.0.1', license: 'NOASSERTION' },
    ]);
    assert.deepEqual(sbom.licenses, ['Apache-2.0', 'ISC', 'MIT', 'NOASSERTION']);
  });

  it('parseSbom() flattens nested CycloneDX components and joins several licenses with AND', () => {
    const sbom = parseSbom(CYCLONEDX_SBOM, 'cyclonedx');
    assert.deepEqual(
      sbom.packages.map((p) => `${p.name}@${p.version} ${p.license}`),
      [
        '@fastify/ajv-compiler@3.5.0 MIT',
        'glibc@2.36 (LGPL-2.1-or-later) AND (GPL-2.0-or-later)',
        'libc6@2.36-9 LGPL-2.1-or-later WITH GCC-exception-3.1',
        'unlicensed@0.1.0 NOASSERTION',
      ],
    );
    assert.deepEqual(sbom.licenses, [
      'GCC-exception-3.1',
      'GPL-2.0-or-later',
      'LGPL-2.1-or-later',
      'MIT',
      'NOASSERTION',
    ]);
  });
});

describe('parseTestResult()', () => {
  it('parseTestResult() counts the named tests', () => {
    assert.deepEqual(parseTestResult(TEST_RESULT), {
      result: 'PASSED',
      passed: 4,
      failed: 0,
      warned: 1,
      url: 'https://github.com/example/shop/actions/runs/1',
    });
    assert.throws(() => parseTestResult({ passedTests: [] }), /result is missing/);
  });
});
