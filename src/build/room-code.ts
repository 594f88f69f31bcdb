import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

let code: Promise<string> | undefined;

/**
 * A digest of the build room's own code (its `.ts` files, tests left out): caches keyed by it start afresh
 * when a checkout changes how specs are read or trees are listed under the same version.
 */
export function buildRoomCode(): Promise<string> {
  code ??= (async () => {
    const dir = import.meta.dirname;
    const names = (await readdir(dir)).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts')).sort();
    const hash = createHash('sha256');
    for (const name of names) hash.update(`${name}\0`).update(await readFile(join(dir, name)));
    return hash.digest('hex');
  })();
  return code;
}
