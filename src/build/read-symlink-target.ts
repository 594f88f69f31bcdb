/**
 * Symlink targets in a layer are kept verbatim, so they must mean the same in the image as in the source. A
 * target is refused (SOURCE_ESCAPE) when it is absolute (it would resolve against the image root, not the
 * source), when it climbs out of `from` lexically, or when on the host it resolves outside `from` through
 * other symlinks (e.g. `dot -> ..` then `link -> dot/../..`, which the kernel resolves after following `dot`).
 * A dangling target that stays inside `from` is kept: the image gets the same dangling link.
 */
import { isUtf8 } from 'node:buffer';
import { readlink, realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { BuildError, toSourceError } from './build-error.ts';

/** Reads the target of symlink `link.host` (at `link.rel` below `root`); throws SOURCE_ESCAPE when it leaves `root`. */
export async function readSymlinkTarget(root: string, link: { host: string; rel: string }): Promise<string> {
  let raw: Buffer;
  try {
    raw = await readlink(link.host, { encoding: 'buffer' });
  } catch (err) {
    throw toSourceError(err, link.host, 'read symlink');
  }
  if (!isUtf8(raw)) {
    throw new BuildError('NAME_INVALID', `Cannot package symlink ${link.host}: its target is not valid UTF-8`, {
      detail: { path: link.host },
    });
  }
  const target = raw.toString('utf8');
  const escapeError = (why: string) =>
    new BuildError(
      'SOURCE_ESCAPE',
      `Cannot package symlink ${link.host}: its target "${target}" ${why}; make it a relative link inside ${root}, or exclude it`,
      { detail: { path: link.host, target } },
    );
  if (target.startsWith('/')) throw escapeError('is absolute, so it would point elsewhere in the image');
  const lexical = posix.normalize(posix.join(posix.dirname(link.rel), target));
  if (lexical === '..' || lexical.startsWith('../')) throw escapeError(`points outside ${root}`);
  let real: string;
  try {
    real = await realpath(link.host);
  } catch {
    return target; // dangling or looping, but lexically inside
  }
  if (real !== root && !real.startsWith(root === '/' ? '/' : `${root}/`))
    throw escapeError(`resolves to ${real}, outside ${root}`);
  return target;
}
