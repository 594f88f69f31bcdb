import { isRecord, type LockEntry, lockfileError, parseLockJSON, stringOrNull } from './lock-entry.ts';
import { toLicenseExpression } from './spdx-license.ts';
import { toIntegrity } from './sri.ts';

/** The packages of a PHP `composer.lock`: `packages`, and `packages-dev` marked as dev. */
export function parseComposerLockfile(text: string, lockfile: string): LockEntry[] {
  const doc = parseLockJSON(text, lockfile);
  return [...fromList(doc, 'packages', lockfile), ...fromList(doc, 'packages-dev', lockfile)];
}

function fromList(doc: Record<string, unknown>, key: 'packages' | 'packages-dev', lockfile: string): LockEntry[] {
  const list = doc[key];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw lockfileError(lockfile, `"${key}" is not an array`);
  return list.map((entry, index) => {
    if (!isRecord(entry) || typeof entry.name !== 'string' || typeof entry.version !== 'string') {
      throw lockfileError(lockfile, `${key}[${index}] has no string "name" and "version"`);
    }
    const dist = isRecord(entry.dist) ? entry.dist : {};
    const source = isRecord(entry.source) ? entry.source : {};
    const shasum = stringOrNull(dist.shasum);
    return {
      name: entry.name,
      version: entry.version,
      license: toLicenseExpression(entry.license),
      resolved: stringOrNull(dist.url) ?? stringOrNull(source.url),
      integrity: shasum === null ? null : toIntegrity('sha1', shasum),
      dev: key === 'packages-dev',
    };
  });
}
