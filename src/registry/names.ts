import { type Digest, isDigest } from '../core/index.ts';
import { RegistryError } from './registry-error.ts';

// distribution-spec v1.1 "Pulling manifests": the repository name and tag grammars.
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export function assertRepositoryName(name: string): void {
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw new RegistryError(
      'NAME_INVALID',
      `Cannot use repository name "${name.slice(0, 100)}": it must match the OCI name grammar`,
      {
        detail: { name: name.slice(0, 300) },
      },
    );
  }
}

export function isTag(value: string): boolean {
  return TAG.test(value);
}

/** A manifest reference: a digest or a tag. */
export function toReference(value: string): { digest: Digest } | { tag: string } {
  if (value.includes(':')) {
    if (!isDigest(value))
      throw new RegistryError(
        'DIGEST_INVALID',
        `Cannot use digest "${value.slice(0, 150)}": it is malformed or unsupported`,
      );
    return { digest: value };
  }
  if (!isTag(value))
    throw new RegistryError(
      'MANIFEST_INVALID',
      `Cannot use tag "${value.slice(0, 150)}": it must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`,
    );
  return { tag: value };
}

export function toDigest(value: string | undefined, what = 'digest'): Digest {
  if (value === undefined || !isDigest(value)) {
    throw new RegistryError(
      'DIGEST_INVALID',
      `Cannot use ${what} "${(value ?? '').slice(0, 150)}": provide algorithm:hex (sha256 or sha512)`,
    );
  }
  return value;
}

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

const ROUTES: Array<[RegExp, (m: RegExpExecArray) => Route]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/**
 * Routes a raw (still percent-encoded) path. Nothing in the OCI grammars needs escaping, so any `%` is
 * refused before decoding: that closes `%2e%2e` and encoded-slash tricks at the door.
 */
export function matchRoute(path: string): Route | null {
  for (const [re, make] of ROUTES) {
    const m = re.exec(path);
    if (m === null) continue;
    const route = make(m);
    if (path.includes('%'))
      throw new RegistryError('NAME_INVALID', 'Cannot route the request: the path holds percent-encoded characters');
    if ('name' in route) assertRepositoryName(route.name);
    return route;
  }
  return null;
}
