import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { EvidenceError } from './evidence-error.ts';
import type { PackageRecord } from './lockfiles.ts';
import {
  createSPDXDocument,
  fileRows,
  planSPDXDocument,
  relationshipRows,
  SBOM_PREDICATE_TYPE,
  type SBOMInput,
  SPDX_MEDIA_TYPE,
} from './sbom.ts';

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
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'mit OR apache-2.0',
      copyrightText: 'NOASSERTION',
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
    assert.equal(new Set(doc.files.map((f) => f.SPDXID)).size, 2);
    assert.equal(doc.files[0]!.SPDXID, 'SPDXRef-File-app-a-b.txt', '"/app/a b.txt" sorts first');
    assert.match(doc.files[1]!.SPDXID, /^SPDXRef-File-app-a-b\.txt-[0-9a-f]{12}$/);
  });

  test('createSPDXDocument() writes created in whole UTC seconds and a bare tool creator without toolVersion', () => {
    const { toolVersion: _t, ...rest } = input;
    const doc = createSPDXDocument({ ...rest, created: '2024-05-01T14:00:00.000+02:00' });
    assert.deepEqual(doc.creationInfo, { created: '2024-05-01T12:00:00Z', creators: ['Tool: fixity'] });
  });

  test('createSPDXDocument() leaves out the image checksum and purl when the image digest is unknown', () => {
    const { imageDigest: _d, ...rest } = input;
    const root = createSPDXDocument(rest).packages[0]!;
    assert.equal(root.checksums, undefined);
    assert.equal(root.externalRefs, undefined);
    assert.equal(root.filesAnalyzed, true);
  });

  test('createSPDXDocument() marks an image without files as not analyzed, with no verification code', () => {
    const root = createSPDXDocument({ ...input, files: [] }).packages[0]!;
    assert.equal(root.filesAnalyzed, false);
    assert.equal(root.packageVerificationCode, undefined);
  });

  test('createSPDXDocument() states NOASSERTION for the image license conclusions and copyright', () => {
    const root = createSPDXDocument(input).packages[0]!;
    assert.deepEqual([root.licenseConcluded, root.licenseDeclared, root.copyrightText], Array(3).fill('NOASSERTION'));
  });

  test('createSPDXDocument() throws EVIDENCE_INPUT_INVALID for a bad time, digest or duplicate file', () => {
    const cases: Array<[Partial<SBOMInput>, RegExp]> = [
      [{ created: 'yesterday' }, /Cannot use SBOM created time: "yesterday" is not an RFC 3339 time/],
      [{ files: [{ ...file('/x'), digest: 'sha256:abc' }] }, /Cannot create SBOM: the digest of file \/x/],
      [{ files: [file('/x'), file('/x')] }, /Cannot create SBOM: file \/x is listed twice/],
      [{ files: [{ ...file('/x'), sha1: 'ABC' }] }, /sha1 that is not 40 lowercase hex/],
      [{ imageDigest: 'latest' }, /the image digest is not a valid digest/],
      [{ namespace: 'fixity.dev/spdx' }, /namespace "fixity.dev\/spdx" is not an absolute URI without "#"/],
      [{ namespace: 'https://fixity.dev/spdx#docs' }, /is not an absolute URI without "#"/],
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

describe('planSPDXDocument()', () => {
  const rowsOf = (files: SBOMInput['files']) => {
    const plan = planSPDXDocument({ ...input, files });
    return { files: [...fileRows(plan)], relationships: [...relationshipRows(plan)] };
  };
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = (rows: string[][]) =>
    [...rows].sort((a, b) => compare(a[0]!, b[0]!) || compare(a[1]!, b[1]!) || compare(a[2]!, b[2]!));

  test('relationshipRows() merges the root CONTAINS of each file into the others, all sorted', () => {
    for (const files of [[], [file('/app/z.js')], [...input.files, file('/app/ünï cödé/ß.js'), file('/a')]]) {
      const { relationships } = rowsOf(files);
      assert.deepEqual(relationships, sorted(relationships));
      const contains = relationships.filter(([, type]) => type === 'CONTAINS').map(([, , to]) => to);
      assert.deepEqual(
        contains.sort(),
        rowsOf(files)
          .files.map(([, id]) => id)
          .sort(),
      );
      assert.equal(relationships.length, files.length + 1 + 5, 'DESCRIBES, the files and the 5 packages');
    }
  });

  test('fileRows() gives each file by path as ./path, SPDXID and its SHA-1 and SHA-256 hex', () => {
    assert.deepEqual(rowsOf([]).files, []);
    const odd = file('/app/ünï cödé/ß.js');
    assert.deepEqual(rowsOf([file('/app/z.js'), odd]).files, [
      ['./app/z.js', 'SPDXRef-File-app-z.js', file('/app/z.js').sha1, file('/app/z.js').digest.slice(7)],
      ['./app/ünï cödé/ß.js', 'SPDXRef-File-app-n-c-d-.js', odd.sha1, odd.digest.slice(7)],
    ]);
  });
});
