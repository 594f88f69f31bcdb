import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { parseComposerLockfile } from './composer-lockfile.ts';
import { EvidenceError } from './evidence-error.ts';
import { isRecord, type LockEntry } from './lock-entry.ts';
import { mapConcurrent } from './map-concurrent.ts';
import { parseNpmLockfile } from './npm-lockfile.ts';
import { createPurl } from './purl.ts';
import { parseRequirementsTxt } from './requirements-txt.ts';
import { toLicenseExpression } from './spdx-license.ts';

export type Ecosystem = 'npm' | 'composer' | 'pypi';

/** A dependency found in a lock file of the image. */
export interface PackageRecord {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  /** An SPDX expression when the package declares one, else what it declares, else null. */
  license: string | null;
  purl: string;
  resolved: string | null;
  /** Subresource Integrity string (`sha512-<base64>`) when the lock file records a hash. */
  integrity: string | null;
  dev: boolean;
  /** Image path of the lock file that lists the package. */
  lockfile: string;
}

export interface PackagedFile {
  /** Path in the image. */
  path: string;
  /** Path on the build host to read it from. */
  source: string;
}

type ImageFile = { path: string };
type Parser = { ecosystem: Ecosystem; parse: (text: string, lockfile: string) => LockEntry[] };
const PARSERS = new Map<string, Parser>([
  ['package-lock.json', { ecosystem: 'npm', parse: parseNpmLockfile }],
  ['npm-shrinkwrap.json', { ecosystem: 'npm', parse: parseNpmLockfile }],
  ['composer.lock', { ecosystem: 'composer', parse: parseComposerLockfile }],
  ['requirements.txt', { ecosystem: 'pypi', parse: parseRequirementsTxt }],
]);
// Lock files that dependencies ship inside their own folders describe their development, not this image.
const DEPENDENCY_FOLDER = /(^|\/)(node_modules|vendor)\//;
const READ_CONCURRENCY = 16;

/**
 * The dependencies listed by the lock files among `files` (npm, composer, pip requirements), in a stable
 * order. When an npm lock file's node_modules is packaged too, only the packages installed there are kept
 * (dev and other-platform optional packages left out of the install are not in the image), and a package
 * whose lock entry has no license takes it from its packaged package.json.
 */
export function findPackages(files: readonly PackagedFile[]): Promise<PackageRecord[]>;
/**
 * The same for files named by image path only, whose host path `sourceOf` makes for the few files read: an
 * object per file that could make it took ~400 bytes each, 37 MB of the peak of a 90k-file build.
 */
export function findPackages<F extends { path: string }>(
  files: readonly F[],
  sourceOf: (file: F) => string,
): Promise<PackageRecord[]>;
export async function findPackages(
  files: readonly ImageFile[],
  sourceOf = (file: ImageFile) => (file as PackagedFile).source,
): Promise<PackageRecord[]> {
  const readText = (file: ImageFile, what: string) => readSource(file.path, sourceOf(file), what);
  const byPath = new Map(files.map((file) => [file.path, file]));
  const lockfiles = files.filter((f) => PARSERS.has(posix.basename(f.path)) && !DEPENDENCY_FOLDER.test(f.path));
  const found = await mapConcurrent(lockfiles, READ_CONCURRENCY, async (file) => {
    const { ecosystem, parse } = PARSERS.get(posix.basename(file.path))!;
    let entries = parse(await readText(file, 'lock file'), file.path);
    if (ecosystem === 'npm') entries = await withInstalled(entries, posix.dirname(file.path), byPath, readText);
    return entries.map((entry) => toRecord(ecosystem, entry, file.path));
  });
  return dedupe(found.flat()).sort(comparePackages);
}

async function withInstalled(
  entries: LockEntry[],
  dir: string,
  byPath: Map<string, ImageFile>,
  readText: (file: ImageFile, what: string) => Promise<string>,
): Promise<LockEntry[]> {
  const manifestOf = (entry: LockEntry) => byPath.get(posix.join(dir, entry.installPath ?? '', 'package.json'));
  const modules = `${posix.join(dir, 'node_modules')}/`;
  const installed = [...byPath.keys()].some((path) => path.startsWith(modules));
  const kept = installed ? entries.filter((entry) => manifestOf(entry) !== undefined) : entries;
  return mapConcurrent(kept, READ_CONCURRENCY, async (entry) => {
    const manifest = manifestOf(entry);
    if (entry.license !== null || manifest === undefined) return entry;
    return { ...entry, license: licenseOf(await readText(manifest, 'package manifest')) };
  });
}

// A dependency's broken package.json is its problem, not the build's: its license is just unknown.
function licenseOf(text: string): string | null {
  try {
    const manifest: unknown = JSON.parse(text);
    return isRecord(manifest) ? toLicenseExpression(manifest.license, manifest.licenses) : null;
  } catch {
    return null;
  }
}

async function readSource(path: string, source: string, what: string): Promise<string> {
  try {
    return await readFile(source, 'utf8');
  } catch (err) {
    throw new EvidenceError('FILE_UNREADABLE', `Cannot read ${what} ${path}: ${(err as Error).message}`, {
      cause: err,
      detail: { path },
    });
  }
}

function toRecord(ecosystem: Ecosystem, entry: LockEntry, lockfile: string): PackageRecord {
  const { name, version, license, resolved, integrity, dev } = entry;
  return {
    ecosystem,
    name,
    version,
    license,
    purl: createPurl(ecosystem, name, version),
    resolved,
    integrity,
    dev,
    lockfile,
  };
}

// One record per package and lock file: npm installs the same version at several nested paths.
function dedupe(records: PackageRecord[]): PackageRecord[] {
  const byKey = new Map<string, PackageRecord>();
  for (const record of records) {
    const key = `${record.lockfile}\0${record.purl}`;
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, record);
    else byKey.set(key, { ...seen, dev: seen.dev && record.dev, license: seen.license ?? record.license });
  }
  return [...byKey.values()];
}

const order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function comparePackages(a: PackageRecord, b: PackageRecord): number {
  return (
    order(a.ecosystem, b.ecosystem) ||
    order(a.name, b.name) ||
    order(a.version, b.version) ||
    order(a.lockfile, b.lockfile) ||
    order(a.purl, b.purl)
  );
}
