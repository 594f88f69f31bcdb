import { type Digest, digestOf, parseDigest } from '../core/index.ts';
import { parseManifest } from '../oci/index.ts';
import type { RegistryOptions, RequestContext } from './context.ts';
import { readBody, sendEmpty } from './http.ts';
import { isTag, toReference } from './names.ts';
import { RegistryError } from './registry-error.ts';

/** GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>. */
export async function handleManifest(
  ctx: RequestContext,
  deps: RegistryOptions,
  name: string,
  ref: string,
): Promise<unknown> {
  switch (ctx.method) {
    case 'GET':
    case 'HEAD':
      return getManifest(ctx, deps, name, ref);
    case 'PUT':
      return putManifest(ctx, deps, name, ref);
    case 'DELETE':
      return deleteManifest(ctx, deps, name, ref);
    default:
      throw new RegistryError('UNSUPPORTED', `Cannot ${ctx.method} a manifest`);
  }
}

async function getManifest({ req, reply, method }: RequestContext, deps: RegistryOptions, name: string, ref: string) {
  await deps.authorize(req, name, ['pull']);
  const reference = toReference(ref);
  const manifest = await deps.metadata.getManifest(name, reference);
  if (manifest === null) {
    throw new RegistryError('MANIFEST_UNKNOWN', `Cannot find manifest "${ref}" in "${name}"`, {
      detail: 'tag' in reference ? { Tag: reference.tag } : { Digest: reference.digest },
    });
  }
  const headers = {
    'Content-Type': manifest.mediaType,
    'Content-Length': manifest.size,
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  };
  if (method === 'HEAD') return sendEmpty(reply, 200, headers);
  reply.code(200).headers(headers);
  return reply.send(Buffer.from(manifest.content.buffer, manifest.content.byteOffset, manifest.content.byteLength));
}

async function putManifest({ req, reply, query }: RequestContext, deps: RegistryOptions, name: string, ref: string) {
  const principal = await deps.authorize(req, name, ['push']);
  const reference = toReference(ref);
  const bytes = await readBody(req, deps.maxManifestBytes);
  const contentType = req.headers['content-type'] ?? '';
  const parsed = parseManifest(bytes, contentType);
  let digest: Digest;
  if ('digest' in reference) {
    digest = digestOf(bytes, parseDigest(reference.digest).algorithm);
    if (digest !== reference.digest) {
      throw new RegistryError(
        'DIGEST_INVALID',
        `Cannot store manifest: its bytes hash to ${digest}, not ${reference.digest}`,
      );
    }
  } else digest = digestOf(bytes);
  const tags = 'tag' in reference ? [reference.tag] : query.getAll('tag');
  const badTag = tags.find((t) => !isTag(t));
  if (badTag !== undefined)
    throw new RegistryError(
      'MANIFEST_INVALID',
      `Cannot use tag "${badTag.slice(0, 150)}": it must match the tag grammar`,
    );
  await deps.metadata.putManifest({
    repo: name,
    digest,
    mediaType: parsed.mediaType,
    content: bytes,
    artifactType: parsed.artifactType,
    subject: parsed.subject?.digest ?? null,
    annotations: parsed.annotations,
    blobs: parsed.blobs,
    children: parsed.children,
    tags,
    actor: principal.actor,
  });
  const headers: Record<string, string> = {
    Location: `/v2/${name}/manifests/${digest}`,
    'Docker-Content-Digest': digest,
  };
  if (parsed.subject !== null) headers['OCI-Subject'] = parsed.subject.digest;
  return sendEmpty(reply, 201, headers);
}

async function deleteManifest({ req, reply }: RequestContext, deps: RegistryOptions, name: string, ref: string) {
  const principal = await deps.authorize(req, name, ['delete']);
  const reference = toReference(ref);
  if ('tag' in reference) {
    if (!(await deps.metadata.deleteTag(name, reference.tag, principal.actor))) {
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        `Cannot delete tag "${reference.tag}" in "${name}": it does not exist`,
        {
          detail: { Tag: reference.tag },
        },
      );
    }
    return sendEmpty(reply, 202);
  }
  if (!(await deps.metadata.deleteManifest(name, reference.digest, principal.actor))) {
    throw new RegistryError(
      'MANIFEST_UNKNOWN',
      `Cannot delete manifest ${reference.digest} in "${name}": it does not exist`,
      {
        detail: { Digest: reference.digest },
      },
    );
  }
  return sendEmpty(reply, 202, { 'Docker-Content-Digest': reference.digest });
}
