import { EvidenceError } from './evidence-error.ts';

/** One package as a lock file records it, before it becomes a PackageRecord. */
export interface LockEntry {
  name: string;
  version: string;
  license: string | null;
  resolved: string | null;
  integrity: string | null;
  dev: boolean;
  /** npm only: the install folder relative to the lock file, e.g. `node_modules/a/node_modules/@s/b`. */
  installPath?: string;
}

/** Parses a lock file's JSON, or throws EvidenceError naming the file. */
export function parseLockJSON(text: string, lockfile: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw lockfileError(lockfile, `not valid JSON (${(err as Error).message})`, err);
  }
  if (!isRecord(doc)) throw lockfileError(lockfile, 'the top level is not a JSON object');
  return doc;
}

export function lockfileError(lockfile: string, state: string, cause?: unknown): EvidenceError {
  return new EvidenceError('LOCKFILE_INVALID', `Cannot parse lock file ${lockfile}: ${state}`, {
    cause,
    detail: { lockfile },
  });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
