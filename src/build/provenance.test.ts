import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalJSON } from '../core/index.ts';
import { EvidenceError } from './evidence-error.ts';
import {
  createProvenanceStatement,
  createSBOMStatement,
  FIXITY_BUILD_TYPE,
  PROVENANCE_PREDICATE_TYPE,
  type ProvenanceInput,
  toDSSEEnvelope,
} from './provenance.ts';
import { createSPDXDocument } from './sbom.ts';

const hex = (seed: string) => createHash('sha256').update(seed).digest('hex');
const commit = createHash('sha1').update('commit').digest('hex');

const input: ProvenanceInput = {
  subject: { name: 'hello', digest: `sha256:${hex('manifest')}` },
  spec: { name: 'hello', version: '1.0.0', base: 'scratch', layers: [{ from: 'dist', to: '/app' }] },
  source: { repository: 'https://github.com/acme/hello.git', revision: commit, path: 'examples/hello' },
  sourceTreeDigest: `sha256:${hex('tree')}`,
  base: { name: 'registry.example.com:5000/library/node:24', digest: `sha256:${hex('base')}` },
  builder: { id: 'https://fixity.dev/builder/local', version: '0.1.0' },
  toolVersion: '0.1.0',
  compression: 'gzip',
  sourceDateEpoch: 1714564800,
  node: '24.21.0',
  zlib: '1.3.1',
  prepare: { command: 'npm ci', network: false, sandbox: 'bubblewrap', tools: { node: '24.21.0' } },
  layers: [
    { digest: `sha256:${hex('layer0')}`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 10 },
    {
      digest: `sha256:${hex('layer1')}`,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      diffId: `sha256:${hex('diff1')}`,
    },
  ],
  invocationId: 'run-42',
  startedOn: '2024-05-01T12:00:00.123Z',
  finishedOn: '2024-05-01T12:01:30Z',
};

describe('createProvenanceStatement()', () => {
  test('createProvenanceStatement() writes an in-toto Statement v1 about the image digest', () => {
    const statement = createProvenanceStatement(input);
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
    assert.equal(PROVENANCE_PREDICATE_TYPE, statement.predicateType);
    assert.deepEqual(statement.subject, [{ name: 'hello', digest: { sha256: hex('manifest') } }]);
  });

  test('createProvenanceStatement() fills the SLSA v1 buildDefinition', () => {
    const { buildDefinition } = createProvenanceStatement(input).predicate;
    assert.equal(buildDefinition.buildType, FIXITY_BUILD_TYPE);
    assert.equal(FIXITY_BUILD_TYPE, 'https://fixity.dev/build/v1');
    assert.deepEqual(buildDefinition.externalParameters, {
      spec: input.spec,
      source: { repository: 'https://github.com/acme/hello.git', revision: commit, path: 'examples/hello' },
    });
    assert.deepEqual(buildDefinition.internalParameters, {
      fixityVersion: '0.1.0',
      node: '24.21.0',
      zlib: '1.3.1',
      compression: 'gzip',
      sourceDateEpoch: 1714564800,
      prepare: input.prepare,
    });
    assert.deepEqual(buildDefinition.resolvedDependencies, [
      {
        name: 'registry.example.com:5000/library/node:24',
        uri: `oci://registry.example.com:5000/library/node@sha256:${hex('base')}`,
        digest: { sha256: hex('base') },
      },
      { uri: `git+https://github.com/acme/hello.git@${commit}`, digest: { gitCommit: commit } },
      { name: 'source-tree', digest: { sha256: hex('tree') } },
    ]);
  });

  test('createProvenanceStatement() fills runDetails with builder, metadata and layer byproducts', () => {
    const { runDetails } = createProvenanceStatement(input).predicate;
    assert.deepEqual(runDetails, {
      builder: { id: 'https://fixity.dev/builder/local', version: { fixity: '0.1.0' } },
      metadata: { invocationId: 'run-42', startedOn: '2024-05-01T12:00:00Z', finishedOn: '2024-05-01T12:01:30Z' },
      byproducts: [
        {
          name: 'layer-0',
          digest: { sha256: hex('layer0') },
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        },
        {
          name: 'layer-1',
          digest: { sha256: hex('layer1') },
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          annotations: { diffId: `sha256:${hex('diff1')}` },
        },
      ],
    });
  });

  test('createProvenanceStatement() leaves out what a scratch build outside git does not have', () => {
    const { invocationId: _i, prepare: _p, ...rest } = input;
    const statement = createProvenanceStatement({
      ...rest,
      base: null,
      source: { repository: null, revision: null, path: '.' },
    });
    const { buildDefinition, runDetails } = statement.predicate;
    assert.deepEqual(buildDefinition.externalParameters.source, { path: '.' });
    assert.deepEqual(buildDefinition.resolvedDependencies, [{ name: 'source-tree', digest: { sha256: hex('tree') } }]);
    assert.equal('prepare' in buildDefinition.internalParameters, false);
    assert.match(runDetails.metadata.invocationId, /^[0-9a-f]{32}$/);
    assert.equal(
      createProvenanceStatement({ ...rest, base: null, source: { repository: null, revision: null, path: '.' } })
        .predicate.runDetails.metadata.invocationId,
      runDetails.metadata.invocationId,
    );
  });

  test('createProvenanceStatement() gives the same canonical bytes for the same input', () => {
    const a = canonicalJSON(createProvenanceStatement(input));
    const b = canonicalJSON(createProvenanceStatement(structuredClone(input)));
    assert.equal(a, b);
    assert.equal(
      toDSSEEnvelope(createProvenanceStatement(input)).payload,
      toDSSEEnvelope(createProvenanceStatement(input)).payload,
    );
  });

  test('createProvenanceStatement() throws EVIDENCE_INPUT_INVALID for a bad digest or time', () => {
    const cases: Array<[Partial<ProvenanceInput>, RegExp]> = [
      [
        { subject: { name: 'hello', digest: 'hello:latest' } },
        /Cannot use the digest of subject hello: "hello:latest" is not a valid digest/,
      ],
      [{ subject: [] }, /Cannot create statement: no subject/],
      [{ sourceTreeDigest: 'sha256:short' }, /the source tree digest/],
      [{ layers: [{ digest: 'md5:abc', mediaType: 'x' }] }, /the digest of layer 0/],
      [{ finishedOn: 'soon' }, /Cannot use the build finish time: "soon" is not an RFC 3339 time/],
    ];
    for (const [change, message] of cases) {
      assert.throws(
        () => createProvenanceStatement({ ...input, ...change }),
        (err: unknown) =>
          err instanceof EvidenceError && err.code === 'EVIDENCE_INPUT_INVALID' && message.test(err.message),
      );
    }
  });
});

describe('createSBOMStatement()', () => {
  test('createSBOMStatement() wraps the SPDX document as the predicate of a statement about the image', () => {
    const spdx = createSPDXDocument({
      name: 'hello',
      version: '1.0.0',
      created: '2024-05-01T12:00:00Z',
      files: [],
      packages: [],
    });
    const statement = createSBOMStatement({ name: 'hello', digest: `sha256:${hex('manifest')}` }, spdx);
    assert.deepEqual(statement, {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'hello', digest: { sha256: hex('manifest') } }],
      predicateType: 'https://spdx.dev/Document',
      predicate: spdx,
    });
  });
});

describe('toDSSEEnvelope()', () => {
  test('toDSSEEnvelope() carries the canonical JSON of the statement, unsigned', () => {
    const statement = createProvenanceStatement(input);
    const envelope = toDSSEEnvelope(statement);
    assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
    assert.deepEqual(envelope.signatures, []);
    const payload = Buffer.from(envelope.payload, 'base64').toString('utf8');
    assert.equal(payload, canonicalJSON(statement));
    assert.deepEqual(JSON.parse(payload), JSON.parse(JSON.stringify(statement)));
  });
});
