/**
 * The project file (CLI style rule 16): a `.fixity.yaml` in the working directory or any directory above it
 * names the server (or a saved context) the project's commands talk to, so a repository can carry it for
 * everyone who works in it. It never holds a token: secrets do not belong in a repository. Flags and the
 * environment win over it; it wins over the server last logged in to. (Not to be confused with
 * `fixity.yaml`, the build spec.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { CLIError } from './output.ts';

export const PROJECT_FILE = '.fixity.yaml';

// What each key takes; YAML is loaded only when a project file exists (every command looks for one).
const KEYS: Record<string, { check: (v: unknown) => boolean; expected: string }> = {
  server: { check: (v) => typeof v === 'string' && URL.canParse(v), expected: 'a URL' },
  context: { check: (v) => typeof v === 'string' && v !== '', expected: 'the name of a saved login' },
};

export interface ProjectFile {
  path: string;
  server?: string | undefined;
  context?: string | undefined;
}

/** The nearest `.fixity.yaml` from `dir` up, or null; a file that is not a valid one is a usage error. */
export function findProjectFile(dir: string = process.cwd()): ProjectFile | null {
  for (let at = resolve(dir); ; at = dirname(at)) {
    const path = join(at, PROJECT_FILE);
    if (existsSync(path)) return readProjectFile(path);
    if (dirname(at) === at) return null;
  }
}

function readProjectFile(path: string): ProjectFile {
  let data: unknown;
  try {
    const yaml = createRequire(import.meta.url)('yaml') as { parse(text: string): unknown };
    data = yaml.parse(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw new CLIError('USAGE', `Cannot read ${path}: ${(err as Error).message}`, 'fix its YAML, or remove it');
  }
  if (typeof data === 'object' && data !== null && 'token' in data) {
    throw new CLIError(
      'USAGE',
      `Cannot use ${path}: it holds a token, and a project file is shared with everyone who reads the repository`,
      'remove the token from it; use fixity login (or FIXITY_TOKEN in CI) instead',
    );
  }
  const refuse = (what: string) =>
    new CLIError('USAGE', `Cannot use ${path}: ${what}`, 'it takes server: URL and context: NAME');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw refuse('it is not a mapping');
  for (const [key, value] of Object.entries(data)) {
    const rule = KEYS[key];
    if (rule === undefined) throw refuse(`unknown key "${key}"`);
    if (!rule.check(value)) throw refuse(`${key} must be ${rule.expected}`);
  }
  const { server, context } = data as { server?: string; context?: string };
  return { path, server, context };
}
