/**
 * fixity.yaml as a build reads it: validated once per content, then remembered in the build cache (`specs/`)
 * under the digest of its bytes, the build room's code and the versions of the YAML parser and zod. A rebuild
 * of an unchanged fixity.yaml loads neither (170 modules: a fifth of a warm build, most of it Node resolving
 * and linking them). An invalid file is never remembered, so it fails the same way every time.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/index.ts';
import { touchCacheEntry } from './cache-entry.ts';
import { buildRoomCode } from './room-code.ts';
import type { BuildSpec } from './spec.ts';
import { writeFileAtomic } from './write-file-atomic.ts';

/** The spec in the file at `path`, and the cache entry it was read from or written to (null without a cache). */
export async function readBuildSpec(
  path: string,
  cache: { dir: string; clock: Clock } | null,
): Promise<{ spec: BuildSpec; entry: string | null }> {
  const text = await readFile(path).catch(() => null);
  // A missing or unreadable file: the parser's loader says what to do.
  if (text === null) return { spec: await (await import('./spec.ts')).loadBuildSpec(path), entry: null };
  const parse = async () => (await import('./spec.ts')).parseBuildSpecText(text.toString('utf8'), path);
  if (cache === null) return { spec: await parse(), entry: null };
  const entry = join(cache.dir, 'specs', `${await specKey(text)}.json`);
  // Missing or unreadable (a crash cannot leave half an entry: they are written whole): parsed afresh.
  const remembered = await readFile(entry, 'utf8')
    .then((json) => JSON.parse(json) as BuildSpec)
    .catch(() => null);
  if (remembered !== null) {
    await touchCacheEntry(entry, cache.clock);
    return { spec: remembered, entry };
  }
  const spec = await parse();
  try {
    await writeFileAtomic(entry, JSON.stringify(spec));
  } catch {
    return { spec, entry: null }; // a cache it cannot write to costs the next build the parse, nothing more
  }
  return { spec, entry };
}

async function specKey(text: Uint8Array): Promise<string> {
  const versions = await Promise.all(['yaml', 'zod'].map(packageVersion));
  return createHash('sha256')
    .update(JSON.stringify({ code: await buildRoomCode(), versions }))
    .update('\0')
    .update(text)
    .digest('hex');
}

async function packageVersion(name: string): Promise<string> {
  const url = new URL(import.meta.resolve(`${name}/package.json`));
  return (JSON.parse(await readFile(url, 'utf8')) as { version: string }).version;
}
