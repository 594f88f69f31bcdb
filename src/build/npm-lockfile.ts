import { isRecord, type LockEntry, lockfileError, parseLockJSON, stringOrNull } from './lock-entry.ts';
import { toLicenseExpression } from './spdx-license.ts';

const NODE_MODULES = 'node_modules/';

/**
 * The packages of an npm `package-lock.json` / `npm-shrinkwrap.json`: the `packages` map of lockfileVersion 2
 * and 3 (nested and scoped install paths, aliases), else the `dependencies` tree of lockfileVersion 1.
 * Workspace folders and links to them are the project's own code, so they are left out.
 */
export function parseNpmLockfile(text: string, lockfile: string): LockEntry[] {
  const doc = parseLockJSON(text, lockfile);
  if (doc.packages !== undefined) {
    if (!isRecord(doc.packages)) throw lockfileError(lockfile, '"packages" is not an object');
    return fromPackages(doc.packages, lockfile);
  }
  if (doc.dependencies === undefined) return [];
  if (!isRecord(doc.dependencies)) throw lockfileError(lockfile, '"dependencies" is not an object');
  return fromDependencies(doc.dependencies, '', lockfile);
}

function fromPackages(packages: Record<string, unknown>, lockfile: string): LockEntry[] {
  const entries: LockEntry[] = [];
  for (const [key, entry] of Object.entries(packages)) {
    if (key === '') continue;
    if (!isRecord(entry)) throw lockfileError(lockfile, `packages["${key}"] is not an object`);
    const at = key.lastIndexOf(NODE_MODULES);
    if (at === -1 || entry.link === true || typeof entry.version !== 'string') continue;
    entries.push({
      name: stringOrNull(entry.name) ?? key.slice(at + NODE_MODULES.length),
      version: entry.version,
      license: toLicenseExpression(entry.license, entry.licenses),
      resolved: stringOrNull(entry.resolved),
      integrity: stringOrNull(entry.integrity),
      dev: entry.dev === true,
      installPath: key,
    });
  }
  return entries;
}

function fromDependencies(dependencies: Record<string, unknown>, parent: string, lockfile: string): LockEntry[] {
  const entries: LockEntry[] = [];
  for (const [folder, entry] of Object.entries(dependencies)) {
    if (!isRecord(entry)) throw lockfileError(lockfile, `dependencies["${folder}"] is not an object`);
    const installPath = `${parent}${NODE_MODULES}${folder}`;
    if (typeof entry.version === 'string') entries.push(fromV1Entry(folder, entry, installPath));
    if (entry.dependencies === undefined) continue;
    if (!isRecord(entry.dependencies)) {
      throw lockfileError(lockfile, `dependencies["${folder}"].dependencies is not an object`);
    }
    entries.push(...fromDependencies(entry.dependencies, `${installPath}/`, lockfile));
  }
  return entries;
}

function fromV1Entry(folder: string, entry: Record<string, unknown>, installPath: string): LockEntry {
  let name = folder;
  let version = entry.version as string;
  let resolved = stringOrNull(entry.resolved);
  // An alias records `npm:<real name>@<version>`; a git or file dependency records its source as the version.
  const alias = /^npm:((?:@[^/@]+\/)?[^@]+)@(.+)$/.exec(version);
  if (alias !== null) {
    name = alias[1]!;
    version = alias[2]!;
  } else if (/^(?:git\+|git:|github:|https?:|file:)/.test(version)) {
    resolved ??= version;
    version = version.includes('#') ? version.slice(version.lastIndexOf('#') + 1) : version;
  }
  return {
    name,
    version,
    license: null,
    resolved,
    integrity: stringOrNull(entry.integrity),
    dev: entry.dev === true,
    installPath,
  };
}
