import type { LockEntry } from './lock-entry.ts';
import { toIntegrity } from './sri.ts';

// `name[extras]==version` or `===version`, then environment markers or options such as --hash.
const PINNED =
  /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)\s*(?:[;\s].*)?$/;

/**
 * The pinned requirements (`name==version`) of a pip `requirements.txt`; ranges, URLs, editable installs
 * and options are not pins, so they are left out. The first `--hash=sha256:` of an entry becomes its integrity.
 */
export function parseRequirementsTxt(text: string): LockEntry[] {
  const entries: LockEntry[] = [];
  const joined = text.replace(/\\\r?\n/g, ' ');
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '' || line.startsWith('-')) continue;
    const match = PINNED.exec(line);
    if (match === null) continue;
    const hash = /--hash[=\s]sha256:([0-9a-fA-F]{64})/.exec(line);
    entries.push({
      name: match[1]!,
      version: match[2]!,
      license: null,
      resolved: null,
      integrity: hash === null ? null : toIntegrity('sha256', hash[1]!.toLowerCase()),
      dev: false,
    });
  }
  return entries;
}
