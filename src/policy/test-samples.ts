/** Realistic, trimmed evidence documents shared by the policy tests and `npm run bench:policy`. */
import type { GateSource } from './compile.ts';
import type { EvidenceInput } from './evidence.ts';

// Trimmed from `trivy image --format json` (0.50) of a Debian 12 Node image: two targets, one CVE in two targets.
export const TRIVY_REPORT = {
  SchemaVersion: 2,
  CreatedAt: '2024-05-02T09:14:07.512Z',
  ArtifactName: 'registry.example.com/shop@sha256:9b2a2f6e7c1d0b7f0f9a3c5e1d2b4a6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b',
  ArtifactType: 'container_image',
  Metadata: { OS: { Family: 'debian', Name: '12.5' }, ImageID: 'sha256:5e1f' },
  Results: [
    {
      Target: 'registry.example.com/shop (debian 12.5)',
      Class: 'os-pkgs',
      Type: 'debian',
      Vulnerabilities: [
        {
          VulnerabilityID: 'CVE-2023-4911',
          PkgID: 'libc6@2.36-9+deb12u1',
          PkgName: 'libc6',
          InstalledVersion: '2.36-9+deb12u1',
          FixedVersion: '2.36-9+deb12u3',
          Status: 'fixed',
          SeveritySource: 'debian',
          PrimaryURL: 'https://avd.aquasec.com/nvd/cve-2023-4911',
          Title: 'glibc: buffer overflow in ld.so leading to privilege escalation',
          Severity: 'HIGH',
        },
        {
          VulnerabilityID: 'CVE-2024-2961',
          PkgName: 'libc6',
          InstalledVersion: '2.36-9+deb12u1',
          Status: 'affected',
          Severity: 'CRITICAL',
        },
        { VulnerabilityID: 'CVE-2011-3374', PkgName: 'apt', InstalledVersion: '2.6.1', Severity: 'LOW' },
      ],
    },
    {
      Target: 'app/package-lock.json',
      Class: 'lang-pkgs',
      Type: 'npm',
      Vulnerabilities: [
        {
          VulnerabilityID: 'CVE-2024-29041',
          PkgName: 'express',
          InstalledVersion: '4.18.2',
          FixedVersion: '4.19.2, 5.0.0-beta.3',
          Severity: 'MEDIUM',
        },
        { VulnerabilityID: 'GHSA-xxxx-yyyy', PkgName: 'left-pad', InstalledVersion: '1.0.0', Severity: 'UNKNOWN' },
      ],
    },
    {
      Target: 'usr/local/lib/node_modules/npm/package.json',
      Class: 'lang-pkgs',
      Type: 'node-pkg',
      Vulnerabilities: [
        {
          VulnerabilityID: 'CVE-2024-29041',
          PkgName: 'express',
          InstalledVersion: '4.18.2',
          FixedVersion: '4.19.2, 5.0.0-beta.3',
          Severity: 'MEDIUM',
        },
      ],
    },
    { Target: 'Node.js', Class: 'lang-pkgs', Type: 'node-pkg' },
  ],
};

// Trimmed from `grype -o json` (0.74): severities in Grype's words, fixes as a list.
export const GRYPE_REPORT = {
  matches: [
    {
      vulnerability: {
        id: 'CVE-2023-44487',
        dataSource: 'https://security-tracker.debian.org/tracker/CVE-2023-44487',
        namespace: 'debian:distro:debian:12',
        severity: 'High',
        fix: { versions: ['1.52.0-1+deb12u1'], state: 'fixed' },
      },
      relatedVulnerabilities: [{ id: 'CVE-2023-44487', namespace: 'nvd:cpe', severity: 'High' }],
      matchDetails: [{ type: 'exact-indirect-match', matcher: 'dpkg-matcher' }],
      artifact: {
        id: '8ac3',
        name: 'libnghttp2-14',
        version: '1.52.0-1',
        type: 'deb',
        purl: 'pkg:deb/debian/libnghttp2-14',
      },
    },
    {
      vulnerability: { id: 'CVE-2005-2541', severity: 'Negligible', fix: { versions: [], state: 'not-fixed' } },
      artifact: { name: 'tar', version: '1.34+dfsg-1.2+deb12u1', type: 'deb' },
    },
    {
      vulnerability: { id: 'GHSA-c2qf-rxjj-qqgw', severity: 'Critical', fix: { versions: ['7.5.2'], state: 'fixed' } },
      artifact: { name: 'semver', version: '7.5.1', type: 'npm' },
    },
    {
      vulnerability: { id: 'CVE-2024-0001', severity: 'Unknown', fix: { versions: [], state: 'unknown' } },
      artifact: { name: 'zlib1g', version: '1:1.2.13.dfsg-1', type: 'deb' },
    },
  ],
  source: { type: 'image', target: { userInput: 'registry.example.com/shop:1.4.0' } },
  distro: { name: 'debian', version: '12', idLike: [] },
  descriptor: { name: 'grype', version: '0.74.0', db: { built: '2024-05-01T01:31:22Z', schemaVersion: 5 } },
};

// `trivy image --format cosign-vuln`: the cosign vuln predicate wrapping the Trivy report.
export const COSIGN_VULN = {
  invocation: { parameters: null, uri: '', event_id: '', 'builder.id': '' },
  scanner: {
    uri: 'pkg:github/aquasecurity/trivy@0.50.1',
    version: '0.50.1',
    db: { uri: '', version: '' },
    result: TRIVY_REPORT,
  },
  metadata: { scanStartedOn: '2024-05-02T09:14:03Z', scanFinishedOn: '2024-05-02T09:14:07Z' },
};

export const DIGEST = 'sha256:9b2a2f6e7c1d0b7f0f9a3c5e1d2b4a6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b';

// As src/build/provenance.ts writes it: source repository and revision in externalParameters.source.
export const FIXITY_PROVENANCE = {
  buildDefinition: {
    buildType: 'https://fixity.dev/buildtypes/oci-image@v1',
    externalParameters: {
      spec: { name: 'shop', version: '1.4.0' },
      source: {
        repository: 'https://github.com/example/shop',
        revision: '5f3c1a9e0b7d2c4f6a8e1b3d5c7f9a0b2d4e6f81',
        path: '.',
      },
    },
    internalParameters: { fixityVersion: '0.1.0', node: '24.21.0' },
    resolvedDependencies: [],
  },
  runDetails: {
    builder: { id: 'https://fixity.dev/builders/v1', version: { fixity: '0.1.0' } },
    metadata: { invocationId: '0c1d', startedOn: '2024-05-02T09:00:00Z', finishedOn: '2024-05-02T09:01:10Z' },
    byproducts: [],
  },
};

// slsa-github-generator (generic): the source only appears as a resolved dependency.
export const GITHUB_PROVENANCE = {
  buildDefinition: {
    buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
    externalParameters: {
      workflow: {
        ref: 'refs/heads/main',
        repository: 'https://github.com/example/shop',
        path: '.github/workflows/release.yml',
      },
    },
    internalParameters: { github: { event_name: 'push', repository_id: '1' } },
    resolvedDependencies: [
      {
        uri: 'git+https://github.com/example/shop@refs/heads/main',
        digest: { gitCommit: '5f3c1a9e0b7d2c4f6a8e1b3d5c7f9a0b2d4e6f81' },
      },
    ],
  },
  runDetails: {
    builder: {
      id: 'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0',
    },
    metadata: { invocationId: 'https://github.com/example/shop/actions/runs/1/attempts/1' },
  },
};

export const PROVENANCE_V02 = {
  builder: { id: 'https://github.com/Attestations/GitHubHostedActions@v1' },
  buildType: 'https://github.com/Attestations/GitHubActionsWorkflow@v1',
  invocation: {
    configSource: {
      uri: 'git+https://github.com/example/shop@refs/heads/main',
      digest: { sha1: '5f3c1a9e0b7d2c4f6a8e1b3d5c7f9a0b2d4e6f81' },
      entryPoint: '.github/workflows/release.yml',
    },
  },
  materials: [
    { uri: 'git+https://github.com/example/shop', digest: { sha1: '5f3c1a9e0b7d2c4f6a8e1b3d5c7f9a0b2d4e6f81' } },
  ],
};

export const SPDX_SBOM = {
  spdxVersion: 'SPDX-2.3',
  dataLicense: 'CC0-1.0',
  SPDXID: 'SPDXRef-DOCUMENT',
  name: 'shop-1.4.0',
  documentNamespace: 'https://fixity.dev/spdx/shop-1.4.0-9b2a',
  creationInfo: { created: '2024-05-02T09:01:10Z', creators: ['Tool: fixity-0.1.0'] },
  packages: [
    {
      name: 'shop',
      SPDXID: 'SPDXRef-Package-root',
      versionInfo: '1.4.0',
      licenseDeclared: 'NOASSERTION',
      primaryPackagePurpose: 'CONTAINER',
    },
    {
      name: 'express',
      SPDXID: 'SPDXRef-Package-npm-express-4.18.2',
      versionInfo: '4.18.2',
      licenseDeclared: 'MIT',
      primaryPackagePurpose: 'LIBRARY',
    },
    {
      name: 'semver',
      SPDXID: 'SPDXRef-Package-npm-semver-7.5.1',
      versionInfo: '7.5.1',
      licenseConcluded: 'ISC',
      licenseDeclared: 'NOASSERTION',
      primaryPackagePurpose: 'LIBRARY',
    },
    {
      name: 'dual',
      SPDXID: 'SPDXRef-Package-npm-dual-1.0.0',
      versionInfo: '1.0.0',
      licenseDeclared: '(MIT OR Apache-2.0)',
      primaryPackagePurpose: 'LIBRARY',
    },
    {
      name: 'mystery',
      SPDXID: 'SPDXRef-Package-npm-mystery-0.0.1',
      versionInfo: '0.0.1',
      licenseDeclared: 'NOASSERTION',
      primaryPackagePurpose: 'LIBRARY',
    },
  ],
};

export const CYCLONEDX_SBOM = {
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79',
  version: 1,
  metadata: { component: { type: 'container', name: 'shop', version: '1.4.0' } },
  components: [
    {
      type: 'library',
      group: '@fastify',
      name: 'ajv-compiler',
      version: '3.5.0',
      licenses: [{ license: { id: 'MIT' } }],
    },
    {
      type: 'library',
      name: 'glibc',
      version: '2.36',
      licenses: [{ license: { id: 'LGPL-2.1-or-later' } }, { license: { id: 'GPL-2.0-or-later' } }],
      components: [
        {
          type: 'library',
          name: 'libc6',
          version: '2.36-9',
          licenses: [{ expression: 'LGPL-2.1-or-later WITH GCC-exception-3.1' }],
        },
      ],
    },
    { type: 'library', name: 'unlicensed', version: '0.1.0' },
  ],
};

export const TEST_RESULT = {
  result: 'PASSED',
  configuration: [{ name: '.github/workflows/ci.yml', digest: { sha256: 'ab' } }],
  url: 'https://github.com/example/shop/actions/runs/1',
  passedTests: ['api', 'checkout', 'payments', 'search'],
  warnedTests: ['flaky-cache'],
  failedTests: [],
};

/** A realistic evidence input: signed, with provenance, SBOM, scan, tests, one approval, verified in staging. */
export function sampleEvidence(now = new Date('2024-05-03T10:00:00Z')): Required<EvidenceInput> {
  return {
    artifact: {
      digest: DIGEST,
      repository: 'registry.example.com/shop',
      tags: ['1.4.0'],
      annotations: { 'org.opencontainers.image.source': 'https://github.com/example/shop', team: 'payments' },
      created: '2024-05-02T09:01:10Z',
    },
    signatures: [
      { keyId: 'SHA256:builder-key', role: 'builder', verified: true },
      { keyId: 'SHA256:release-key', role: 'release', verified: true },
    ],
    attestations: [
      { predicateType: 'https://slsa.dev/provenance/v1', predicate: FIXITY_PROVENANCE },
      { predicateType: 'https://spdx.dev/Document', predicate: SPDX_SBOM },
      { predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1', predicate: COSIGN_VULN_CLEAN },
      { predicateType: 'https://in-toto.io/attestation/test-result/v0.1', predicate: TEST_RESULT },
    ],
    approvals: [{ user: 'alice', stage: 'production', at: '2024-05-03T09:00:00Z', comment: 'LGTM' }],
    stages: {
      test: { verifiedSince: '2024-05-02T09:30:00Z', promotedAt: '2024-05-02T09:10:00Z' },
      staging: { verifiedSince: '2024-05-02T12:00:00Z', promotedAt: '2024-05-02T11:00:00Z' },
    },
    now,
  };
}

// The same scan after the fixes: only low and medium findings left.
export const COSIGN_VULN_CLEAN = {
  ...COSIGN_VULN,
  scanner: {
    ...COSIGN_VULN.scanner,
    result: {
      ...TRIVY_REPORT,
      Results: [{ ...TRIVY_REPORT.Results[1], Vulnerabilities: TRIVY_REPORT.Results[1]?.Vulnerabilities?.slice(0, 1) }],
    },
  },
};

/** Ten gates a platform team would write for production. */
export const PRODUCTION_GATES: GateSource[] = [
  { name: 'signed-by-release-key', expression: "signatures.exists(s, s.verified && s.role == 'release')" },
  {
    name: 'built-by-fixity',
    expression: "provenance != null && provenance.builderId == 'https://fixity.dev/builders/v1'",
  },
  { name: 'from-our-repo', expression: "provenance.sourceRepository.startsWith('https://github.com/example/')" },
  { name: 'no-critical', expression: 'vulnerabilities != null && vulnerabilities.critical == 0' },
  { name: 'few-high', expression: 'vulnerabilities.high <= 2' },
  { name: 'tests-passed', expression: "tests != null && tests.result == 'PASSED' && tests.failed == 0" },
  { name: 'no-agpl', expression: "sbom != null && !sbom.licenses.exists(l, l.startsWith('AGPL'))" },
  {
    name: 'soaked-in-staging',
    expression: "has(stages.staging.verifiedSince) && now - stages.staging.verifiedSince >= duration('2h')",
  },
  { name: 'semver-tag', expression: "artifact.tags.exists(t, t.matches('^[0-9]+\\\\.[0-9]+\\\\.[0-9]+$'))" },
  { name: 'fresh', expression: "now - artifact.created < duration('720h')" },
];
