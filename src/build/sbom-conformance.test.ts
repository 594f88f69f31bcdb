// The SBOM against SPDX 2.3 as strict validators read it: the JSON schema (spdx-spec schemas/spdx-schema-2-3.json:
// required properties, no others, enums) and the spec text's rules for what Fixity writes (§6 document
// creation, §7 packages, §8 files, §11 relationships, Annex D license expressions). Checked by hand, offline.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createManualClock } from '../core/index.ts';
import { createRegistryClient } from '../oci/index.ts';
import { type BuildOptions, type BuildResult, build } from './build.ts';
import { createSPDXDocument, type SBOMInput } from './sbom.ts';

const work = await mkdtemp(join(tmpdir(), 'fixity-spdx-'));
after(() => rm(work, { recursive: true, force: true }));

const run = promisify(execFile);
const HELLO = new URL('../../examples/hello/', import.meta.url).pathname;
const sha1 = (bytes: string | Buffer) => createHash('sha1').update(bytes).digest('hex');
const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

// Properties the 2.3 schema allows (it sets additionalProperties: false everywhere), and its enums.
const words = (...lines: string[]) => new Set(lines.join(' ').split(' '));
const DOCUMENT_KEYS = words(
  'SPDXID annotations comment creationInfo dataLicense externalDocumentRefs hasExtractedLicensingInfos name',
  'revieweds spdxVersion documentNamespace documentDescribes packages files snippets relationships',
);
const CREATION_KEYS = words('comment created creators licenseListVersion');
const PACKAGE_KEYS = words(
  'SPDXID annotations attributionTexts builtDate checksums comment copyrightText description downloadLocation',
  'externalRefs filesAnalyzed hasFiles homepage licenseComments licenseConcluded licenseDeclared',
  'licenseInfoFromFiles name originator packageFileName packageVerificationCode primaryPackagePurpose',
  'releaseDate sourceInfo summary supplier validUntilDate versionInfo',
);
const FILE_KEYS = words(
  'SPDXID annotations artifactOfs attributionTexts checksums comment copyrightText fileContributors',
  'fileDependencies fileName fileTypes licenseComments licenseConcluded licenseInfoInFiles noticeText',
);
const RELATIONSHIP_KEYS = words('spdxElementId comment relatedSpdxElement relationshipType');
const RELATIONSHIP_TYPES = words(
  'VARIANT_OF COPY_OF PATCH_FOR TEST_DEPENDENCY_OF CONTAINED_BY DATA_FILE_OF OPTIONAL_COMPONENT_OF ANCESTOR_OF',
  'GENERATES CONTAINS OPTIONAL_DEPENDENCY_OF FILE_ADDED REQUIREMENT_DESCRIPTION_FOR DEV_DEPENDENCY_OF',
  'DEPENDENCY_OF BUILD_DEPENDENCY_OF DESCRIBES PREREQUISITE_FOR HAS_PREREQUISITE PROVIDED_DEPENDENCY_OF',
  'DYNAMIC_LINK DESCRIBED_BY METAFILE_OF DEPENDENCY_MANIFEST_OF PATCH_APPLIED RUNTIME_DEPENDENCY_OF TEST_OF',
  'TEST_TOOL_OF DEPENDS_ON SPECIFICATION_FOR FILE_MODIFIED DISTRIBUTION_ARTIFACT AMENDS DOCUMENTATION_OF',
  'GENERATED_FROM STATIC_LINK OTHER BUILD_TOOL_OF TEST_CASE_OF PACKAGE_OF DESCENDANT_OF FILE_DELETED',
  'EXPANDED_FROM_ARCHIVE DEV_TOOL_OF EXAMPLE_OF',
);
const PURPOSES = words(
  'OTHER INSTALL ARCHIVE FIRMWARE APPLICATION FRAMEWORK LIBRARY CONTAINER SOURCE DEVICE OPERATING_SYSTEM FILE',
);
const REFERENCE_CATEGORIES = words('OTHER PERSISTENT-ID SECURITY PACKAGE-MANAGER');
// Checksum algorithms of the schema's enum, with the hex length where it is fixed.
const HEX_LENGTH: Record<string, number | null> = {
  SHA1: 40,
  SHA224: 56,
  SHA256: 64,
  SHA384: 96,
  SHA512: 128,
  'SHA3-256': 64,
  'SHA3-384': 96,
  'SHA3-512': 128,
  'BLAKE2b-256': 64,
  'BLAKE2b-384': 96,
  'BLAKE2b-512': 128,
  MD2: 32,
  MD4: 32,
  MD5: 32,
  ADLER32: 8,
  BLAKE3: null,
  MD6: null,
};
const SPDX_ID = /^SPDXRef-[A-Za-z0-9.-]+$/; // §6.3, §7.2, §8.2
const CREATED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/; // §6.9
const CREATOR = /^(Person|Organization|Tool): \S/; // §6.8
const DOWNLOAD = /^(NONE|NOASSERTION|(?:(?:git|hg|svn|bzr)\+)?[a-z][a-z0-9+.-]*:\/\/\S+|bzr\+lp:\S+)$/; // §7.7
const PURL = /^pkg:[a-z][a-z0-9.+-]*\/\S+$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The ways `doc` breaks SPDX 2.3 as written by Fixity; empty when it conforms. */
function spdx23Problems(doc: unknown): string[] {
  const found: string[] = [];
  const bad = (where: string, what: string): void => {
    found.push(`${where}: ${what}`);
  };
  const shape = (value: unknown, where: string, allowed: Set<string>, required: string[]): value is Json => {
    if (!isObject(value)) {
      bad(where, 'is not an object');
      return false;
    }
    for (const key of Object.keys(value)) if (!allowed.has(key)) bad(where, `has unknown property ${key}`);
    for (const key of required) if (!(key in value)) bad(where, `lacks ${key}`);
    return true;
  };
  const text = (value: unknown, where: string) => {
    if (typeof value !== 'string' || value === '') bad(where, 'is not a non-empty string');
  };
  const checksums = (value: unknown, where: string, minItems: number): Map<string, string> => {
    const byAlgorithm = new Map<string, string>();
    if (!Array.isArray(value) || value.length < minItems) {
      bad(where, `is not an array of at least ${minItems} checksum(s)`);
      return byAlgorithm;
    }
    value.forEach((c, i) => {
      if (!shape(c, `${where}[${i}]`, new Set(['algorithm', 'checksumValue']), ['algorithm', 'checksumValue'])) return;
      const algorithm = String(c.algorithm);
      const value = String(c.checksumValue);
      if (!(algorithm in HEX_LENGTH)) bad(`${where}[${i}]`, `unknown algorithm ${algorithm}`);
      const length = HEX_LENGTH[algorithm];
      if (!/^[0-9a-f]+$/.test(value) || (length != null && value.length !== length)) {
        bad(`${where}[${i}]`, `${algorithm} value is not ${length ?? 'some'} lowercase hex digits`);
      }
      if (byAlgorithm.has(algorithm)) bad(`${where}[${i}]`, `repeats ${algorithm}`);
      byAlgorithm.set(algorithm, value);
    });
    return byAlgorithm;
  };

  if (!shape(doc, 'document', DOCUMENT_KEYS, ['SPDXID', 'creationInfo', 'dataLicense', 'name', 'spdxVersion'])) {
    return found;
  }
  if (doc.spdxVersion !== 'SPDX-2.3') bad('spdxVersion', 'is not SPDX-2.3');
  if (doc.dataLicense !== 'CC0-1.0') bad('dataLicense', 'is not CC0-1.0'); // §6.2
  if (doc.SPDXID !== 'SPDXRef-DOCUMENT') bad('SPDXID', 'is not SPDXRef-DOCUMENT'); // §6.3
  text(doc.name, 'name');
  // §6.5: mandatory, an absolute URI without a "#" part.
  const namespace = doc.documentNamespace;
  if (
    typeof namespace !== 'string' ||
    !/^[a-z][a-z0-9+.-]*:\/\/[^#\s]+$/i.test(namespace) ||
    !URL.canParse(namespace)
  ) {
    bad('documentNamespace', 'is not an absolute URI without "#"');
  }
  if (shape(doc.creationInfo, 'creationInfo', CREATION_KEYS, ['created', 'creators'])) {
    const { created, creators } = doc.creationInfo;
    const real = typeof created === 'string' && !Number.isNaN(Date.parse(created));
    if (
      typeof created !== 'string' ||
      !CREATED.test(created) ||
      !real ||
      !new Date(created).toISOString().startsWith(created.slice(0, -1))
    ) {
      bad('creationInfo.created', 'is not YYYY-MM-DDThh:mm:ssZ');
    }
    if (!Array.isArray(creators) || creators.length === 0) bad('creationInfo.creators', 'is empty');
    else
      for (const c of creators) if (typeof c !== 'string' || !CREATOR.test(c)) bad('creationInfo.creators', `has ${c}`);
  }

  const licenseRefs = new Set<string>();
  if (doc.hasExtractedLicensingInfos !== undefined) {
    for (const info of doc.hasExtractedLicensingInfos as Json[]) licenseRefs.add(String(info.licenseId));
  }
  const ids = new Map<string, 'document' | 'package' | 'file'>([['SPDXRef-DOCUMENT', 'document']]);
  const claim = (id: unknown, kind: 'package' | 'file', where: string) => {
    if (typeof id !== 'string' || !SPDX_ID.test(id))
      bad(where, `SPDXID ${String(id)} is not SPDXRef- and [A-Za-z0-9.-]`);
    else if (ids.has(id)) bad(where, `SPDXID ${id} is not unique`);
    else ids.set(id, kind);
  };

  const packages = Array.isArray(doc.packages) ? doc.packages : [];
  if (doc.packages !== undefined && !Array.isArray(doc.packages)) bad('packages', 'is not an array');
  packages.forEach((p, i) => {
    const where = `packages[${i}]`;
    if (!shape(p, where, PACKAGE_KEYS, ['SPDXID', 'downloadLocation', 'name'])) return;
    claim(p.SPDXID, 'package', where);
    text(p.name, `${where}.name`);
    if (p.versionInfo !== undefined) text(p.versionInfo, `${where}.versionInfo`);
    if (typeof p.downloadLocation !== 'string' || !DOWNLOAD.test(p.downloadLocation)) {
      bad(where, `downloadLocation ${String(p.downloadLocation)} is not NONE, NOASSERTION or a URL`);
    }
    if (p.filesAnalyzed !== undefined && typeof p.filesAnalyzed !== 'boolean')
      bad(where, 'filesAnalyzed is not boolean');
    for (const key of ['licenseConcluded', 'licenseDeclared'] as const) {
      if (p[key] !== undefined && !isLicenseExpression(p[key], licenseRefs)) {
        bad(where, `${key} ${String(p[key])} is not NONE, NOASSERTION or a license expression`);
      }
    }
    if (p.copyrightText !== undefined) text(p.copyrightText, `${where}.copyrightText`);
    if (p.checksums !== undefined) checksums(p.checksums, `${where}.checksums`, 0);
    if (p.primaryPackagePurpose !== undefined && !PURPOSES.has(String(p.primaryPackagePurpose))) {
      bad(where, `primaryPackagePurpose ${String(p.primaryPackagePurpose)}`);
    }
    for (const [j, ref] of ((p.externalRefs ?? []) as unknown[]).entries()) {
      const at = `${where}.externalRefs[${j}]`;
      const required = ['referenceCategory', 'referenceLocator', 'referenceType'];
      if (!shape(ref, at, new Set([...required, 'comment']), required)) continue;
      if (!REFERENCE_CATEGORIES.has(String(ref.referenceCategory))) bad(at, 'unknown referenceCategory');
      if (/\s/.test(String(ref.referenceLocator))) bad(at, 'referenceLocator has spaces');
      if (ref.referenceType === 'purl' && !PURL.test(String(ref.referenceLocator))) bad(at, 'purl is malformed');
    }
    if (p.packageVerificationCode !== undefined) {
      const keys = ['packageVerificationCodeValue', 'packageVerificationCodeExcludedFiles'];
      const code = p.packageVerificationCode;
      if (shape(code, `${where}.packageVerificationCode`, new Set(keys), [keys[0]!])) {
        if (!/^[0-9a-f]{40}$/.test(String(code.packageVerificationCodeValue)))
          bad(where, 'verification code is not 40 hex');
      }
    }
  });

  const files = Array.isArray(doc.files) ? doc.files : [];
  const fileSha1 = new Map<string, string>();
  const fileNames = new Set<string>();
  files.forEach((f, i) => {
    const where = `files[${i}]`;
    if (!shape(f, where, FILE_KEYS, ['SPDXID', 'checksums', 'fileName'])) return;
    claim(f.SPDXID, 'file', where);
    if (typeof f.fileName !== 'string' || !f.fileName.startsWith('./')) bad(where, 'fileName does not start with "./"');
    else if (fileNames.has(f.fileName)) bad(where, `fileName ${f.fileName} is listed twice`);
    else fileNames.add(f.fileName);
    const sums = checksums(f.checksums, `${where}.checksums`, 1);
    if (!sums.has('SHA1')) bad(where, 'has no SHA1 checksum (§8.4)');
    else fileSha1.set(String(f.SPDXID), sums.get('SHA1')!);
    if (f.licenseConcluded !== undefined && !isLicenseExpression(f.licenseConcluded, licenseRefs)) {
      bad(where, 'licenseConcluded is not a license expression');
    }
  });

  const contains = new Map<string, string[]>();
  let describes = 0;
  const relationships = Array.isArray(doc.relationships) ? doc.relationships : [];
  relationships.forEach((r, i) => {
    const where = `relationships[${i}]`;
    const required = ['spdxElementId', 'relatedSpdxElement', 'relationshipType'];
    if (!shape(r, where, RELATIONSHIP_KEYS, required)) return;
    const from = String(r.spdxElementId);
    const to = String(r.relatedSpdxElement);
    if (!RELATIONSHIP_TYPES.has(String(r.relationshipType))) bad(where, `unknown type ${String(r.relationshipType)}`);
    if (!ids.has(from)) bad(where, `spdxElementId ${from} names no element`);
    if (!ids.has(to) && to !== 'NONE' && to !== 'NOASSERTION') bad(where, `relatedSpdxElement ${to} names no element`);
    if (r.relationshipType === 'DESCRIBES' && from === 'SPDXRef-DOCUMENT') describes++;
    if (r.relationshipType === 'CONTAINS' && ids.get(to) === 'file')
      contains.set(from, [...(contains.get(from) ?? []), to]);
  });
  const documentDescribes = Array.isArray(doc.documentDescribes) ? doc.documentDescribes : [];
  if (describes + documentDescribes.length === 0) bad('relationships', 'the document DESCRIBES nothing');

  // §7.8, §7.9: a package whose files were analyzed has the verification code over their SHA1s; one whose
  // files were not analyzed contains no files and has no code.
  for (const [i, p] of packages.entries()) {
    if (!isObject(p)) continue;
    const where = `packages[${i}]`;
    const members = [...(contains.get(String(p.SPDXID)) ?? []), ...((p.hasFiles as string[] | undefined) ?? [])];
    if (p.filesAnalyzed === false) {
      if (members.length > 0) bad(where, 'contains files but filesAnalyzed is false');
      if (p.packageVerificationCode !== undefined) bad(where, 'has a verification code but filesAnalyzed is false');
      if (p.licenseInfoFromFiles !== undefined) bad(where, 'has licenseInfoFromFiles but filesAnalyzed is false');
      continue;
    }
    const code = (p.packageVerificationCode as Json | undefined)?.packageVerificationCodeValue;
    if (code === undefined) {
      bad(where, 'has filesAnalyzed true (or omitted) but no packageVerificationCode');
      continue;
    }
    const sha1s = [...new Set(members)].map((id) => fileSha1.get(id) ?? '').sort();
    if (code !== sha1(sha1s.join(''))) bad(where, 'packageVerificationCode is not SHA1 of the sorted file SHA1s');
  }
  return found;
}

/** Annex D: NONE, NOASSERTION, or ids (LicenseRef- ones defined) joined by upper-case AND/OR/WITH and parentheses. */
function isLicenseExpression(value: unknown, licenseRefs: Set<string>): boolean {
  if (typeof value !== 'string') return false;
  if (value === 'NONE' || value === 'NOASSERTION') return true;
  const tokens = value.match(/\(|\)|[^\s()]+/g) ?? [];
  let at = 0;
  const id = (): boolean => {
    const token = tokens[at];
    if (token === undefined || /^(AND|OR|WITH)$/i.test(token)) return false;
    if (token.startsWith('LicenseRef-') ? !licenseRefs.has(token) : !/^[A-Za-z0-9][A-Za-z0-9.-]*\+?$/.test(token)) {
      return false;
    }
    at++;
    return true;
  };
  const term = (): boolean => {
    if (tokens[at] === '(') {
      at++;
      if (!expression() || tokens[at] !== ')') return false;
      at++;
      return true;
    }
    if (!id()) return false;
    if (tokens[at] !== 'WITH') return true;
    at++;
    return id();
  };
  const expression = (): boolean => {
    if (!term()) return false;
    while (tokens[at] === 'AND' || tokens[at] === 'OR') {
      at++;
      if (!term()) return false;
    }
    return true;
  };
  return tokens.length > 0 && expression() && at === tokens.length;
}

const file = (path: string, content = path) => ({
  path,
  digest: `sha256:${sha256(content)}` as const,
  size: content.length,
  sha1: sha1(content),
});
const input: SBOMInput = {
  name: 'registry.example.com/team/shop',
  version: '2.0.0-rc.1+build.7',
  imageDigest: `sha256:${sha256('manifest')}`,
  created: '2024-05-01T12:00:00Z',
  toolVersion: '0.1.0',
  files: [file('/app/a b.txt'), file('/app/a-b.txt'), file('/app/ünïcode/日本.js'), file('/app/@scope/x+y%z.js')],
  packages: [
    {
      ecosystem: 'npm',
      name: '@scope/pkg',
      version: '1.0.0-beta.1',
      license: '(MIT OR Apache-2.0) AND BSD-3-Clause',
      purl: 'pkg:npm/%40scope/pkg@1.0.0-beta.1',
      resolved: 'https://registry.npmjs.org/@scope/pkg/-/pkg-1.0.0-beta.1.tgz',
      integrity: `sha512-${createHash('sha512').update('pkg').digest('base64')}`,
      dev: false,
      lockfile: '/app/package-lock.json',
    },
    {
      ecosystem: 'pypi',
      name: 'requests',
      version: '2.31.0',
      license: 'Apache 2.0',
      purl: 'pkg:pypi/requests@2.31.0',
      resolved: null,
      integrity: null,
      dev: true,
      lockfile: '/app/requirements.txt',
    },
  ],
};

describe('spdx23Problems()', () => {
  test('spdx23Problems() accepts what createSPDXDocument() writes for awkward names, ids and licenses', () => {
    assert.deepEqual(spdx23Problems(JSON.parse(JSON.stringify(createSPDXDocument(input)))), []);
  });

  test('spdx23Problems() finds each rule broken in an otherwise valid document', () => {
    const valid = () => JSON.parse(JSON.stringify(createSPDXDocument(input)));
    const cases: Array<
      [string, (doc: Json & { packages: Json[]; files: Json[]; relationships: Json[] }) => void, RegExp]
    > = [
      ['no SHA1', (d) => (d.files[0]!.checksums = [(d.files[0]!.checksums as Json[])[1]]), /no SHA1 checksum/],
      ['bad id', (d) => (d.files[0]!.SPDXID = 'SPDXRef-a_b'), /is not SPDXRef- and/],
      ['duplicate id', (d) => (d.files[1]!.SPDXID = d.files[0]!.SPDXID), /is not unique/],
      ['no namespace', (d) => delete d.documentNamespace, /documentNamespace/],
      ['namespace fragment', (d) => (d.documentNamespace = 'https://x.dev/a#b'), /documentNamespace/],
      ['created with millis', (d) => ((d.creationInfo as Json).created = '2024-05-01T12:00:00.000Z'), /created/],
      ['impossible date', (d) => ((d.creationInfo as Json).created = '2024-02-31T12:00:00Z'), /created/],
      ['bad creator', (d) => ((d.creationInfo as Json).creators = ['fixity']), /creators/],
      ['unknown property', (d) => (d.files[0]!.sha1 = 'x'), /unknown property sha1/],
      ['no downloadLocation', (d) => delete d.packages[0]!.downloadLocation, /lacks downloadLocation/],
      ['bad license', (d) => (d.packages[1]!.licenseDeclared = 'MIT and Apache-2.0'), /licenseDeclared/],
      ['undefined LicenseRef', (d) => (d.packages[1]!.licenseDeclared = 'LicenseRef-x'), /licenseDeclared/],
      [
        'wrong code',
        (d) => ((d.packages[0]!.packageVerificationCode as Json).packageVerificationCodeValue = '0'.repeat(40)),
        /packageVerificationCode is not/,
      ],
      ['no code', (d) => delete d.packages[0]!.packageVerificationCode, /no packageVerificationCode/],
      ['not analyzed', (d) => (d.packages[0]!.filesAnalyzed = false), /contains files but filesAnalyzed is false/],
      ['dangling', (d) => (d.relationships[0]!.relatedSpdxElement = 'SPDXRef-Nothing'), /names no element/],
      [
        'no DESCRIBES',
        (d) => (d.relationships = d.relationships.filter((r) => r.relationshipType !== 'DESCRIBES')),
        /DESCRIBES nothing/,
      ],
      ['short hash', (d) => ((d.files[0]!.checksums as Json[])[1]!.checksumValue = 'abc'), /SHA256 value/],
    ];
    for (const [name, spoil, expected] of cases) {
      const doc = valid();
      spoil(doc);
      const problems = spdx23Problems(doc);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${name}: ${JSON.stringify(problems)}`,
      );
    }
  });
});

describe('build() SBOM', () => {
  const options = (dir: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
    dir,
    cacheDir: join(work, 'cache'),
    toolVersion: 'test',
    registry: createRegistryClient(),
    clock: createManualClock(Date.now() + 3_600_000), // every source file is old enough for the digest cache
    sourceDateEpoch: 1_700_000_000,
    ...extra,
  });
  const predicate = (result: BuildResult) => (result.sbom.statement as { predicate: Json }).predicate;

  /** Asserts the SBOM conforms and lists exactly `expected` (image path → host file) with their real hashes. */
  async function assertListsFiles(result: BuildResult, expected: Record<string, string>) {
    const doc = JSON.parse(JSON.stringify(predicate(result))) as Json & { files: Json[]; packages: Json[] };
    assert.deepEqual(spdx23Problems(doc), []);
    const listed = Object.fromEntries(doc.files.map((f) => [f.fileName, f.checksums]));
    const want: Record<string, unknown> = {};
    const sha1s: string[] = [];
    for (const [path, host] of Object.entries(expected)) {
      const bytes = await readFile(host);
      sha1s.push(sha1(bytes));
      want[`./${path}`] = [
        { algorithm: 'SHA1', checksumValue: sha1(bytes) },
        { algorithm: 'SHA256', checksumValue: sha256(bytes) },
      ];
    }
    assert.deepEqual(listed, want);
    const root = doc.packages[0]!;
    assert.deepEqual(root.packageVerificationCode, { packageVerificationCodeValue: sha1(sha1s.sort().join('')) });
    return doc;
  }

  test('build() of examples/hello writes an SBOM that passes the SPDX 2.3 check', async () => {
    const dir = join(work, 'hello');
    await mkdir(dir);
    for (const name of await readdir(HELLO)) await writeFile(join(dir, name), await readFile(join(HELLO, name)));
    const result = await build(options(dir, { noCache: true }));
    await assertListsFiles(result, {
      'app/package-lock.json': join(dir, 'package-lock.json'),
      'app/package.json': join(dir, 'package.json'),
      'app/server.js': join(dir, 'server.js'),
    });
  });

  test('build() of a tree with hardlinks, big and oddly named files, lock files and overlapping layers passes it', async () => {
    const dir = join(work, 'synthetic');
    const big = Buffer.alloc((9 << 20) + 3, 'abcdefgh'); // read in chunks, not whole
    const files: Record<string, string | Buffer> = {
      'fixity.yaml': [
        'name: synthetic',
        'version: 0.0.1',
        'base: scratch',
        'layers:',
        '  - { from: app, to: /app }',
        '  - { from: overlay, to: /app }',
      ].join('\n'),
      'app/server.js': 'console.log(1)\n',
      'app/config.json': '{"v":1}\n',
      'app/empty': '',
      'app/data/big.bin': big,
      'app/ünïcode dir/名前 (1).txt': 'unicode\n',
      [`app/deep/${'x'.repeat(110)}/long-name.js`]: 'long\n',
      'app/package-lock.json': JSON.stringify({
        name: 'synthetic',
        lockfileVersion: 3,
        packages: {
          '': { name: 'synthetic', version: '0.0.1' },
          'node_modules/ok': {
            version: '1.0.0',
            resolved: 'https://registry.npmjs.org/ok/-/ok-1.0.0.tgz',
            license: 'MIT',
          },
          'node_modules/odd': { version: '2.0.0', license: 'SEE LICENSE IN LICENSE' },
          'node_modules/local': { version: '0.1.0', resolved: 'file:../local', license: 'mit or apache-2.0' },
        },
      }),
      'app/requirements.txt': 'requests==2.31.0\n',
      'overlay/config.json': '{"v":2}\n',
    };
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    await link(join(dir, 'app/server.js'), join(dir, 'app/server-link.js'));
    const expected = Object.fromEntries(
      Object.keys(files)
        .filter((p) => p.startsWith('app/') && p !== 'app/config.json')
        .map((p) => [p, join(dir, p)]),
    );
    expected['app/config.json'] = join(dir, 'overlay/config.json'); // the later layer's file is the image's
    expected['app/server-link.js'] = join(dir, 'app/server-link.js');

    const cold = await build(options(dir, { noCache: true }));
    const doc = await assertListsFiles(cold, expected);
    const names = (doc.packages as Json[]).map((p) => [p.name, p.licenseDeclared]);
    assert.deepEqual(names, [
      ['synthetic', 'NOASSERTION'],
      ['local', 'mit OR apache-2.0'],
      ['odd', 'NOASSERTION'],
      ['ok', 'MIT'],
      ['requests', 'NOASSERTION'],
    ]);

    // Same inputs, same SBOM bytes: with the digest cache filling and then answering, and from another path.
    const filling = await build(options(dir));
    const warm = await build(options(dir));
    const moved = join(work, 'elsewhere', 'synthetic');
    await mkdir(dirname(moved), { recursive: true });
    await run('cp', ['-a', dir, moved]); // -a keeps the hardlink
    const elsewhere = await build(options(moved, { cacheDir: join(work, 'cache-elsewhere') }));
    for (const other of [filling, warm, elsewhere]) {
      assert.equal(other.digest, cold.digest);
      assert.equal(other.sbom.digest, cold.sbom.digest);
    }
  });

  test('build() takes an unchanged file SHA-1 from the digest cache instead of reading the file again', async () => {
    const dir = join(work, 'remembered');
    await mkdir(join(dir, 'app'), { recursive: true });
    await writeFile(
      join(dir, 'fixity.yaml'),
      'name: remembered\nversion: 1.0.0\nbase: scratch\nlayers:\n  - { from: app, to: /app }\n',
    );
    await writeFile(join(dir, 'app/a.txt'), 'a\n');
    const cacheDir = join(work, 'cache-remembered');
    const first = await build(options(dir, { cacheDir }));
    assert.deepEqual(spdx23Problems(predicate(first)), []);
    // Swap the remembered SHA-1 for a marker: a build that read the file would not see it.
    const [cacheFile] = await readdir(join(cacheDir, 'files'));
    const path = join(cacheDir, 'files', cacheFile!);
    const stored = JSON.parse(await readFile(path, 'utf8')) as { version: number; entries: string[][] };
    assert.equal(stored.version, 3);
    assert.equal(stored.entries[0]![3], sha1('a\n'));
    stored.entries[0]![3] = 'f'.repeat(40);
    await writeFile(path, JSON.stringify(stored));
    const second = await build(options(dir, { cacheDir }));
    assert.equal(second.digest, first.digest, 'the image does not depend on the SHA-1');
    const checksums = (predicate(second).files as Json[])[0]!.checksums as Json[];
    assert.deepEqual(checksums[0], { algorithm: 'SHA1', checksumValue: 'f'.repeat(40) });
  });
});
