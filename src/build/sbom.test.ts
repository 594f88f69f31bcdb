import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { EvidenceError } from './evidence-error.ts';
import type { PackageRecord } from './lockfiles.ts';
import { createSPDXDocument, SBOM_PREDICATE_TYPE, type SBOMInput, SPDX_MEDIA_TYPE } from './sbom.ts';
import type { SPDXDocument } from './spdx-document.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const file = (path: string, content = path) => ({
  path,
  digest: `sha256:${sha256(content)}` as const,
  size: content.length,
  sha1: sha1(content),
});
const integrity = (seed: string) => `sha512-${createHash('sha512').update(seed).digest('base64')}`;

function npm(name: string, version: string, extra: Partial<PackageRecord> = {}): PackageRecord {
  return {
    ecosystem: 'npm',
    name,
    version,
    license: 'MIT',
    purl: `pkg:npm/${name.replace('@', '%40')}@${version}`,
    resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`,
    integrity: integrity(`${name}@${version}`),
    dev: false,
    lockfile: '/app/package-lock.json',
    ...extra,
  };
}

const input: SBOMInput = {
  name: 'hello',
  version: '1.2.3',
  imageDigest: `sha256:${sha256('manifest')}`,
  created: '2024-05-01T12:00:00Z',
  toolVersion: '0.1.0',
  files: [file('/app/server.js'), file('/app/package.json'), file('/app/node_modules/@fastify/error/index.js')],
  packages: [
    npm('@fastify/error', '4.0.0'),
    npm('debug', '4.3.4', { license: 'mit or apache-2.0' }),
    npm('typescript', '5.4.5', { dev: true, license: 'Apache-2.0' }),
    npm('local-lib', '1.0.0', { resolved: 'file:../local-lib', integrity: null, license: 'SEE LICENSE IN LICENSE.md' }),
    {
      ecosystem: 'composer',
      name: 'monolog/monolog',
      version: '3.5.0',
      license: 'MIT',
      purl: 'pkg:composer/monolog/monolog@3.5.0',
      resolved: 'https://api.github.com/repos/Seldaek/monolog/zipball/c915e26',
      integrity: `sha1-${Buffer.from(sha1('monolog'), 'hex').toString('base64')}`,
      dev: false,
      lockfile: '/var/www/composer.lock',
    },
  ],
};

const HEX_LENGTH: Record<string, number> = { SHA1: 40, SHA256: 64, SHA384: 96, SHA512: 128 };

/** Structural checks a strict SPDX 2.3 validator makes; returns the problems found. */
function problems(doc: SPDXDocument): string[] {
  const found: string[] = [];
  const ids = [doc.SPDXID, ...doc.packages.map((p) => p.SPDXID), ...doc.files.map((f) => f.SPDXID)];
  if (new Set(ids).size !== ids.length) found.push('duplicate SPDXID');
  for (const id of ids) if (!/^SPDXRef-[A-Za-z0-9.-]+$/.test(id)) found.push(`bad SPDXID ${id}`);
  for (const r of doc.relationships) {
    for (const id of [r.spdxElementId, r.relatedSpdxElement]) if (!ids.includes(id)) found.push(`dangling ${id}`);
  }
  const checksums = [...doc.packages.flatMap((p) => p.checksums ?? []), ...doc.files.flatMap((f) => f.checksums)];
  for (const c of checksums) {
    if (!new RegExp(`^[0-9a-f]{${HEX_LENGTH[c.algorithm]}}$`).test(c.checksumValue)) found.push(`bad ${c.algorithm}`);
  }
  for (const f of doc.files) {
    if (!f.fileName.startsWith('./')) found.push(`fileName ${f.fileName}`);
    if (!f.checksums.some((c) => c.algorithm === 'SHA1')) found.push(`no SHA1 for ${f.fileName}`);
  }
  for (const p of doc.packages) {
    if (!/^(NOASSERTION|NONE|https?:\/\/\S+|(git|hg|svn|bzr)\+\S+)$/.test(p.downloadLocation))
      found.push(`download ${p.name}`);
    if (
      p.filesAnalyzed === false &&
      doc.relationships.some((r) => r.spdxElementId === p.SPDXID && r.relationshipType === 'CONTAINS')
    ) {
      found.push(`${p.SPDXID} contains files but filesAnalyzed is false`);
    }
  }
  if (!doc.relationships.some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES')) {
    found.push('nothing DESCRIBED');
  }
  if (!/^https:\/\/[^#\s]+$/.test(doc.documentNamespace)) found.push('documentNamespace');
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(doc.creationInfo.created)) found.push('created');
  return found;
}

describe('createSPDXDocument()', () => {
  test('createSPDXDocument() writes the required SPDX 2.3 document fields', () => {
    const doc = createSPDXDocument(input);
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.equal(doc.dataLicense, 'CC0-1.0');
    assert.equal(doc.SPDXID, 'SPDXRef-DOCUMENT');
    assert.equal(doc.name, 'hello-1.2.3');
    assert.match(doc.documentNamespace, /^https:\/\/fixity\.dev\/spdx\/hello-1\.2\.3-[0-9a-f]{64}$/);
    assert.deepEqual(doc.creationInfo, { created: '2024-05-01T12:00:00Z', creators: ['Tool: fixity-0.1.0'] });
    assert.equal(SBOM_PREDICATE_TYPE, 'https://spdx.dev/Document');
    assert.equal(SPDX_MEDIA_TYPE, 'application/spdx+json');
  });

  test('createSPDXDocument() passes structural validation: ids, relationships, checksums', () => {
    assert.deepEqual(problems(createSPDXDocument(input)), []);
  });

  test('createSPDXDocument() describes the image as a root package containing every file', () => {
    const doc = createSPDXDocument(input);
    const root = doc.packages[0]!;
    assert.equal(root.SPDXID, 'SPDXRef-Image');
    assert.equal(root.primaryPackagePurpose, 'CONTAINER');
    assert.deepEqual(root.checksums, [{ algorithm: 'SHA256', checksumValue: sha256('manifest') }]);
    assert.deepEqual(root.externalRefs, [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:oci/hello@sha256%3A${sha256('manifest')}`,
      },
    ]);
    const expectedCode = createHash('sha1')
      .update(
        input.files
          .map((f) => f.sha1)
          .sort()
          .join(''),
      )
      .digest('hex');
    assert.deepEqual(root.packageVerificationCode, { packageVerificationCodeValue: expectedCode });
    assert.deepEqual(
      doc.files.map((f) => f.fileName),
      ['./app/node_modules/@fastify/error/index.js', './app/package.json', './app/server.js'],
    );
    assert.deepEqual(doc.files[2], {
      fileName: './app/server.js',
      SPDXID: 'SPDXRef-File-app-server.js',
      checksums: [
        { algorithm: 'SHA1', checksumValue: sha1('/app/server.js') },
        { algorithm: 'SHA256', checksumValue: sha256('/app/server.js') },
      ],
    });
    const contained = doc.relationships
      .filter((r) => r.relationshipType === 'CONTAINS')
      .map((r) => r.relatedSpdxElement);
    assert.deepEqual(contained.sort(), doc.files.map((f) => f.SPDXID).sort());
  });

  test('createSPDXDocument() records each dependency with purl, license, download location and checksums', () => {
    const doc = createSPDXDocument(input);
    const debug = doc.packages.find((p) => p.name === 'debug')!;
    assert.deepEqual(debug, {
      name: 'debug',
      SPDXID: 'SPDXRef-Package-npm-debug-4.3.4',
      versionInfo: '4.3.4',
      downloadLocation: 'https://registry.npmjs.org/debug/-/debug-4.3.4.tgz',
      filesAnalyzed: false,
      licenseDeclared: 'mit OR apache-2.0',
      externalRefs: [
        { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:npm/debug@4.3.4' },
      ],
      primaryPackagePurpose: 'LIBRARY',
      sourceInfo: 'acquired package info from /app/package-lock.json',
      checksums: [{ algorithm: 'SHA512', checksumValue: createHash('sha512').update('debug@4.3.4').digest('hex') }],
    });
    const monolog = doc.packages.find((p) => p.name === 'monolog/monolog')!;
    assert.deepEqual(monolog.checksums, [{ algorithm: 'SHA1', checksumValue: sha1('monolog') }]);
    assert.equal(monolog.SPDXID, 'SPDXRef-Package-composer-monolog-monolog-3.5.0');
    const local = doc.packages.find((p) => p.name === 'local-lib')!;
    assert.equal(local.downloadLocation, 'NOASSERTION', 'a file: path is not a download location');
    assert.equal(local.licenseDeclared, 'NOASSERTION', 'free text is not an SPDX expression');
    assert.equal(local.checksums, undefined);
  });

  test('createSPDXDocument() relates runtime dependencies by DEPENDS_ON and dev ones by DEV_DEPENDENCY_OF', () => {
    const doc = createSPDXDocument(input);
    const id = (name: string) => doc.packages.find((p) => p.name === name)!.SPDXID;
    assert.ok(
      doc.relationships.some(
        (r) =>
          r.spdxElementId === 'SPDXRef-Image' &&
          r.relationshipType === 'DEPENDS_ON' &&
          r.relatedSpdxElement === id('debug'),
      ),
    );
    assert.ok(
      doc.relationships.some(
        (r) =>
          r.spdxElementId === id('typescript') &&
          r.relationshipType === 'DEV_DEPENDENCY_OF' &&
          r.relatedSpdxElement === 'SPDXRef-Image',
      ),
    );
    assert.deepEqual(
      doc.relationships.filter((r) => r.relationshipType === 'DESCRIBES'),
      [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' }],
    );
  });

  test('createSPDXDocument() gives byte-identical JSON for the same input in any order', () => {
    const first = JSON.stringify(createSPDXDocument(input));
    const shuffled = { ...input, files: [...input.files].reverse(), packages: [...input.packages].reverse() };
    assert.equal(JSON.stringify(createSPDXDocument(input)), first);
    assert.equal(JSON.stringify(createSPDXDocument(shuffled)), first);
  });

  test('createSPDXDocument() derives a different namespace when the content differs', () => {
    const a = createSPDXDocument(input).documentNamespace;
    const b = createSPDXDocument({ ...input, files: [...input.files, file('/app/extra.js')] }).documentNamespace;
    const c = createSPDXDocument({ ...input, namespace: 'https://sbom.example.org/docs/' }).documentNamespace;
    assert.notEqual(a, b);
    assert.equal(c.replace('https://sbom.example.org/docs/', ''), a.replace('https://fixity.dev/spdx/', ''));
  });

  test('createSPDXDocument() merges one package listed by two lock files', () => {
    const doc = createSPDXDocument({
      ...input,
      packages: [npm('ms', '2.1.3'), npm('ms', '2.1.3', { lockfile: '/admin/package-lock.json', dev: true })],
    });
    const ms = doc.packages.filter((p) => p.name === 'ms');
    assert.equal(ms.length, 1);
    assert.equal(ms[0]!.sourceInfo, 'acquired package info from /admin/package-lock.json, /app/package-lock.json');
    assert.ok(
      doc.relationships.some((r) => r.relationshipType === 'DEPENDS_ON' && r.relatedSpdxElement === ms[0]!.SPDXID),
    );
  });

  test('createSPDXDocument() keeps SPDXIDs unique when sanitized names collide', () => {
    const doc = createSPDXDocument({ ...input, files: [file('/app/a b.txt'), file('/app/a-b.txt')], packages: [] });
    assert.deepEqual(problems(doc), []);
    assert.equal(doc.files[0]!.SPDXID, 'SPDXRef-File-app-a-b.txt', '"/app/a b.txt" sorts first');
    assert.match(doc.files[1]!.SPDXID, /^SPDXRef-File-app-a-b\.txt-[0-9a-f]{12}$/);
  });

  test('createSPDXDocument() writes created in whole UTC seconds and a bare tool creator without toolVersion', () => {
    const { toolVersion: _t, ...rest } = input;
    const doc = createSPDXDocument({ ...rest, created: '2024-05-01T14:00:00.000+02:00' });
    assert.deepEqual(doc.creationInfo, { created: '2024-05-01T12:00:00Z', creators: ['Tool: fixity'] });
  });

  test('createSPDXDocument() leaves out image checksums and the verification code when they are unknown', () => {
    const { imageDigest: _d, ...rest } = input;
    const doc = createSPDXDocument({ ...rest, files: input.files.map(({ sha1: _s, ...f }) => f) });
    assert.equal(doc.packages[0]!.checksums, undefined);
    assert.equal(doc.packages[0]!.packageVerificationCode, undefined);
    assert.deepEqual(
      doc.files[0]!.checksums.map((c) => c.algorithm),
      ['SHA256'],
    );
  });

  test('createSPDXDocument() throws EVIDENCE_INPUT_INVALID for a bad time, digest or duplicate file', () => {
    const cases: Array<[Partial<SBOMInput>, RegExp]> = [
      [{ created: 'yesterday' }, /Cannot use SBOM created time: "yesterday" is not an RFC 3339 time/],
      [{ files: [{ path: '/x', digest: 'sha256:abc', size: 1 }] }, /Cannot create SBOM: the digest of file \/x/],
      [{ files: [file('/x'), file('/x')] }, /Cannot create SBOM: file \/x is listed twice/],
      [{ files: [{ ...file('/x'), sha1: 'ABC' }] }, /sha1 that is not 40 lowercase hex/],
      [{ imageDigest: 'latest' }, /the image digest is not a valid digest/],
    ];
    for (const [change, message] of cases) {
      assert.throws(
        () => createSPDXDocument({ ...input, ...change }),
        (err: unknown) =>
          err instanceof EvidenceError && err.code === 'EVIDENCE_INPUT_INVALID' && message.test(err.message),
      );
    }
  });
});
