/**
 * Globs for a layer's include/exclude/modes, matched against paths relative to the layer's `from`.
 *
 * Semantics (gitignore-like, but anchored at `from` as in .dockerignore):
 * - `*` matches within one path segment, `?` one character other than `/`; everything else is literal
 *   (no `[...]` classes, no `!` negation).
 * - `**` as a whole segment matches zero or more segments: `**\/*.js` also matches `a.js` at the top,
 *   `a/**\/b` also matches `a/b`, and a trailing `/**` matches everything below.
 * - A trailing `/` matches directories only.
 * - Absolute patterns and `.`/`..`/empty segments are rejected: a glob cannot point outside `from`.
 */
import { BuildError } from './build-error.ts';

export interface SourceGlob {
  readonly pattern: string;
  /** Whether `path` (relative to `from`, no leading or trailing slash) matches. */
  matches(path: string, isDirectory: boolean): boolean;
  /** Whether something below directory `path` could match: false lets the walk skip a whole subtree. */
  couldMatchBelow(path: string): boolean;
}

/** Compiles one glob; throws BuildError LAYER_INVALID when it is absolute or climbs with `..`. */
export function compileSourceGlob(pattern: string): SourceGlob {
  const directoryOnly = pattern.endsWith('/') && pattern.length > 1;
  const body = directoryOnly ? pattern.slice(0, -1) : pattern;
  const segments = body.split('/');
  if (body === '' || body.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new BuildError(
      'LAYER_INVALID',
      `Cannot use glob "${pattern}": it must be relative to the layer's from, without "." or ".." segments`,
      { detail: { pattern } },
    );
  }
  let source = '';
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '**') source += last ? '.*' : '(?:.*/)?';
    else source += segmentSource(segment) + (last ? '' : '/');
  });
  const re = new RegExp(`^${source}$`, 'u');
  const wild = segments.findIndex((s) => /[*?]/.test(s));
  const literal = wild === -1 ? segments : segments.slice(0, wild);
  return {
    pattern,
    matches: (path, isDirectory) => (isDirectory || !directoryOnly) && re.test(path),
    couldMatchBelow: (path) => path.split('/').every((s, i) => i >= literal.length || s === literal[i]),
  };
}

function segmentSource(segment: string): string {
  let out = '';
  for (const c of segment) {
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}
