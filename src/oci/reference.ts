import { type Digest, isDigest } from '../core/index.ts';
import { OCIError } from './oci-error.ts';

/** A parsed image reference: `registry/repository[:tag][@digest]`. */
export interface ImageReference {
  registry: string;
  repository: string;
  tag: string | null;
  digest: Digest | null;
}

const DOCKER_HUB = 'registry-1.docker.io';

/**
 * Parses `localhost:7070/team/app:1.0@sha256:…`. As docker does, the first segment is a registry when it
 * has a `.` or `:` or is `localhost`; otherwise the reference is on Docker Hub (`library/` for one segment).
 */
export function parseReference(text: string): ImageReference {
  let rest = text.trim();
  let digest: Digest | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new OCIError('DIGEST_INVALID', `Cannot parse reference "${text}": "${d}" is not a digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first : DOCKER_HUB;
  let path = hasRegistry ? rest.slice(slash + 1) : rest;
  if (registry === 'docker.io' || registry === 'index.docker.io') registry = DOCKER_HUB;
  let tag: string | null = null;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag))
      throw new OCIError('MANIFEST_INVALID', `Cannot parse reference "${text}": bad tag "${tag}"`);
  }
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (!/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/.test(path)) {
    throw new OCIError('MANIFEST_INVALID', `Cannot parse reference "${text}": "${path}" is not a repository name`);
  }
  return { registry, repository: path, tag, digest };
}

/** `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === null ? '' : `:${ref.tag}`}${ref.digest === null ? '' : `@${ref.digest}`}`;
}
