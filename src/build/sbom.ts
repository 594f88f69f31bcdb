import { createHash } from 'node:crypto';
import { digestOf, parseDigest } from '../core/index.ts';
import { EvidenceError } from './evidence-error.ts';
import type { PackageRecord } from './lockfiles.ts';
import type { SPDXDocument, SPDXPackage, SPDXRelationship, SPDXRelationshipType } from './spdx-document.ts';
import { normalizeLicenseExpression } from './spdx-license.ts';
import { parseIntegrity } from './sri.ts';
import { toUTCSeconds } from './utc-seconds.ts';

/** in-toto predicateType of an SPDX SBOM, as cosign writes it (`…/Document/v2.3` is accepted alike). */
export const SBOM_PREDICATE_TYPE = 'https://spdx.dev/Document';
export const SPDX_MEDIA_TYPE = 'application/spdx+json';

export interface SBOMFile {
  /** Path in the image, e.g. `/app/server.js`. */
  path: string;
  digest: `sha256:${string}`;
  size: number;
  /** Lowercase hex SHA-1 of the content: SPDX 2.3 §8.4 requires one per file, and §7.9 builds on them. */
  sha1: string;
}

export interface SBOMInput {
  name: string;
  version: string;
  /** The image manifest digest, when known before the SBOM is written. */
  imageDigest?: string;
  /** RFC 3339; pass SOURCE_DATE_EPOCH so rebuilds give byte-identical documents. */
  created: string;
  files: readonly SBOMFile[];
  packages: PackageRecord[];
  /** Base URI of the document namespace; default `https://fixity.dev/spdx`. */
  namespace?: string;
  /** Fixity's own version, for `creators`. */
  toolVersion?: string;
}

const ROOT_ID = 'SPDXRef-Image';
const ALGORITHMS = { sha1: 'SHA1', sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512' } as const;

/**
 * The SPDX document in compact form, as `writeSBOMEnvelope` streams it: the document's small fields as they
 * are, and the input's own file records with one id each instead of a tree of objects (100k files). File rows
 * and the root's CONTAINS relationships are made as they are written (`fileRows`, `relationshipRows`): kept,
 * with their `./` names and hex strings, a plan of 90k files held 37 MB instead of 13.
 */
export interface SPDXPlan {
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SPDXPackage[];
  /** The input's files, sorted by path. */
  files: readonly SBOMFile[];
  /** The SPDXID of each of `files`, by index. */
  fileIds: readonly string[];
  /** `fileIds` sorted: the root CONTAINS each. */
  contained: readonly string[];
  /** Sorted: spdxElementId, relationshipType, relatedSpdxElement; all but the root's CONTAINS. */
  relationships: Array<[from: string, type: SPDXRelationshipType, to: string]>;
}

type FileRow = [fileName: string, id: string, sha1: string, sha256: string];
type RelationshipRow = SPDXPlan['relationships'][number];

/** The plan's files in order, each as `./` path, SPDXID, SHA-1 hex, SHA-256 hex. */
export function* fileRows(plan: Pick<SPDXPlan, 'files' | 'fileIds'>): Generator<FileRow> {
  for (let i = 0; i < plan.files.length; i++) {
    const file = plan.files[i]!;
    yield [`./${file.path.replace(/^\/+/, '')}`, plan.fileIds[i]!, file.sha1, file.digest.slice('sha256:'.length)];
  }
}

/** Every relationship of the plan, sorted: the root's CONTAINS merged into the others. */
export function* relationshipRows(plan: Pick<SPDXPlan, 'relationships' | 'contained'>): Generator<RelationshipRow> {
  const { relationships, contained } = plan;
  let r = 0;
  for (const id of contained) {
    const row: RelationshipRow = [ROOT_ID, 'CONTAINS', id];
    while (r < relationships.length && compareRelationships(relationships[r]!, row) < 0) yield relationships[r++]!;
    yield row;
  }
  while (r < relationships.length) yield relationships[r++]!;
}

/**
 * An SPDX 2.3 JSON document for an image: a root package that CONTAINS every packaged file and DEPENDS_ON
 * (or has as DEV_DEPENDENCY_OF) every locked dependency. Everything is sorted, and the namespace is derived
 * from the content, so equal inputs give equal bytes.
 *
 * Files carry SHA1 (mandatory, §8.4) and SHA256 checksums and nothing else: their license and copyright
 * fields are optional in 2.3 and mean NOASSERTION when absent, which keeps a 100k-file document small.
 * Packages state licenseConcluded and copyrightText as NOASSERTION explicitly, for readers still on 2.2 rules.
 */
export function createSPDXDocument(input: SBOMInput): SPDXDocument {
  return expandSPDXPlan(planSPDXDocument(input));
}

/** The document a plan stands for, as objects. */
export function expandSPDXPlan(plan: SPDXPlan): SPDXDocument {
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: plan.name,
    documentNamespace: plan.documentNamespace,
    creationInfo: plan.creationInfo,
    packages: plan.packages,
    files: Array.from(fileRows(plan), ([fileName, SPDXID, sha1, sha256]) => ({
      fileName,
      SPDXID,
      checksums: [
        { algorithm: 'SHA1', checksumValue: sha1 },
        { algorithm: 'SHA256', checksumValue: sha256 },
      ],
    })),
    relationships: Array.from(relationshipRows(plan), ([from, type, to]) => relation(from, type, to)),
  };
}

/** What createSPDXDocument writes, in compact form; see there. */
export function planSPDXDocument(input: SBOMInput): SPDXPlan {
  const created = toUTCSeconds(input.created, 'SBOM created time');
  const { files, fileIds } = createFiles(input.files);
  const dependencies = createDependencies(input.packages);
  const root = createRoot(input, files);
  const relationships: SPDXPlan['relationships'] = [
    ['SPDXRef-DOCUMENT', 'DESCRIBES', ROOT_ID],
    ...dependencies.map(
      ({ spdx, dev }): RelationshipRow =>
        dev ? [spdx.SPDXID, 'DEV_DEPENDENCY_OF', ROOT_ID] : [ROOT_ID, 'DEPENDS_ON', spdx.SPDXID],
    ),
  ];
  relationships.sort(compareRelationships);
  const contained = [...fileIds].sort(compare);
  const plan = { files, fileIds, contained, relationships };
  const creationInfo = {
    created,
    creators: [input.toolVersion ? `Tool: fixity-${input.toolVersion}` : 'Tool: fixity'],
  };
  const packages = [root, ...dependencies.map((d) => d.spdx)];
  const name = `${input.name}-${input.version}`;
  // The namespace names the content; any deterministic serialisation does. This one is what JSON.stringify
  // wrote of { name, creationInfo, packages, files, relationships } as objects with their keys in creation
  // order, kept so namespaces stay as they were; it is hashed piece by piece, never held whole.
  const hash = createHash('sha256');
  hash.update(`{"name":${JSON.stringify(name)},"creationInfo":${JSON.stringify(creationInfo)}`);
  hash.update(`,"packages":${JSON.stringify(packages)},"files":[`);
  let chunk = '';
  let i = 0;
  for (const [fileName, id, sha1, sha256] of fileRows(plan)) {
    chunk += `${i++ === 0 ? '' : ','}{"fileName":${JSON.stringify(fileName)},"SPDXID":${JSON.stringify(id)},"checksums":[{"algorithm":"SHA1","checksumValue":"${sha1}"},{"algorithm":"SHA256","checksumValue":"${sha256}"}]}`;
    if (chunk.length > 1 << 16) {
      hash.update(chunk);
      chunk = '';
    }
  }
  chunk += '],"relationships":[';
  i = 0;
  for (const [from, type, to] of relationshipRows(plan)) {
    chunk += `${i++ === 0 ? '' : ','}{"spdxElementId":${JSON.stringify(from)},"relationshipType":"${type}","relatedSpdxElement":${JSON.stringify(to)}}`;
    if (chunk.length > 1 << 16) {
      hash.update(chunk);
      chunk = '';
    }
  }
  hash.update(`${chunk}]}`);
  const contentHex = hash.digest('hex');
  const base = (input.namespace ?? 'https://fixity.dev/spdx').replace(/\/+$/, '');
  // §6.5: a unique absolute URI without a "#" part.
  if (base.includes('#') || !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(base) || !URL.canParse(base)) {
    invalid(`namespace "${base}" is not an absolute URI without "#"`);
  }
  return {
    name,
    documentNamespace: `${base}/${encodeURIComponent(input.name)}-${encodeURIComponent(input.version)}-${contentHex}`,
    creationInfo,
    packages,
    ...plan,
  };
}

function createRoot(input: SBOMInput, files: readonly SBOMFile[]): SPDXPackage {
  const root: SPDXPackage = {
    name: input.name,
    SPDXID: ROOT_ID,
    versionInfo: input.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: files.length > 0,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    primaryPackagePurpose: 'CONTAINER',
  };
  if (files.length > 0) {
    // §7.9: SHA-1 over the file SHA-1s sorted and concatenated. No file is excluded: the SBOM is a referrer
    // of the image, never one of its files.
    const sha1s = files.map((file) => file.sha1).sort();
    const value = createHash('sha1').update(sha1s.join('')).digest('hex');
    root.packageVerificationCode = { packageVerificationCodeValue: value };
  }
  if (input.imageDigest !== undefined) {
    const { algorithm, hex } = digestParts(input.imageDigest, 'the image digest');
    root.checksums = [{ algorithm: ALGORITHMS[algorithm], checksumValue: hex }];
    const locator = `pkg:oci/${encodeURIComponent(input.name.split('/').at(-1)!)}@${encodeURIComponent(input.imageDigest)}`;
    root.externalRefs = [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: locator }];
  }
  return root;
}

// The files sorted by path, checked, and their ids.
function createFiles(input: readonly SBOMFile[]): Pick<SPDXPlan, 'files' | 'fileIds'> {
  const sorted = [...input].sort((a, b) => compare(a.path, b.path));
  const ids = new Set<string>();
  const fileIds = sorted.map((file, index) => {
    if (index > 0 && sorted[index - 1]!.path === file.path) invalid(`file ${file.path} is listed twice`);
    const { algorithm } = digestParts(file.digest, `the digest of file ${file.path}`);
    if (algorithm !== 'sha256') invalid(`file ${file.path} has a ${algorithm} digest, not sha256`);
    if (!/^[0-9a-f]{40}$/.test(file.sha1)) invalid(`file ${file.path} has a sha1 that is not 40 lowercase hex`);
    return uniqueId(`SPDXRef-File-${idPart(file.path.replace(/^\/+/, ''))}`, file.path, ids);
  });
  return { files: sorted, fileIds };
}

function createDependencies(records: PackageRecord[]): Array<{ spdx: SPDXPackage; dev: boolean }> {
  const byPurl = new Map<string, { record: PackageRecord; lockfiles: Set<string>; dev: boolean }>();
  for (const record of records) {
    const seen = byPurl.get(record.purl);
    if (seen === undefined) byPurl.set(record.purl, { record, lockfiles: new Set([record.lockfile]), dev: record.dev });
    else {
      seen.lockfiles.add(record.lockfile);
      seen.dev &&= record.dev;
    }
  }
  const merged = [...byPurl.values()].sort(
    (a, b) =>
      compare(a.record.name, b.record.name) ||
      compare(a.record.version, b.record.version) ||
      compare(a.record.purl, b.record.purl),
  );
  const ids = new Set<string>();
  return merged.map(({ record, lockfiles, dev }) => {
    const spdx: SPDXPackage = {
      name: record.name,
      SPDXID: uniqueId(
        `SPDXRef-Package-${record.ecosystem}-${idPart(record.name)}-${idPart(record.version)}`,
        record.purl,
        ids,
      ),
      versionInfo: record.version,
      downloadLocation: downloadLocation(record.resolved),
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: (record.license === null ? null : normalizeLicenseExpression(record.license)) ?? 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: record.purl }],
      primaryPackagePurpose: 'LIBRARY',
      sourceInfo: `acquired package info from ${[...lockfiles].sort(compare).join(', ')}`,
    };
    const checksums = parseIntegrity(record.integrity ?? '').map(({ algorithm, hex }) => ({
      algorithm: ALGORITHMS[algorithm],
      checksumValue: hex,
    }));
    if (checksums.length > 0) spdx.checksums = checksums.sort((a, b) => compare(a.algorithm, b.algorithm));
    return { spdx, dev };
  });
}

// SPDX download locations are URLs or VCS locators; local paths (file:, workspace links) are not.
function downloadLocation(resolved: string | null): string {
  if (resolved === null) return 'NOASSERTION';
  return /^(?:https?|(?:git|hg|svn|bzr)\+[a-z+]+|git):\/\/\S+$/.test(resolved) ? resolved : 'NOASSERTION';
}

// SPDX ids allow letters, digits, "." and "-"; on a collision the id takes a short hash of what it names.
function uniqueId(candidate: string, key: string, taken: Set<string>): string {
  const id = taken.has(candidate) ? `${candidate}-${parseDigest(digestOf(key)).hex.slice(0, 12)}` : candidate;
  taken.add(id);
  return id;
}

function idPart(value: string): string {
  return value.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

function relation(from: string, type: SPDXRelationshipType, to: string): SPDXRelationship {
  return { spdxElementId: from, relationshipType: type, relatedSpdxElement: to };
}

function compareRelationships(a: RelationshipRow, b: RelationshipRow): number {
  return compare(a[0], b[0]) || compare(a[1], b[1]) || compare(a[2], b[2]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function digestParts(digest: string, what: string): ReturnType<typeof parseDigest> {
  try {
    return parseDigest(digest);
  } catch (err) {
    throw new EvidenceError('EVIDENCE_INPUT_INVALID', `Cannot create SBOM: ${what} is not a valid digest`, {
      cause: err,
    });
  }
}

function invalid(state: string): never {
  throw new EvidenceError('EVIDENCE_INPUT_INVALID', `Cannot create SBOM: ${state}`);
}
