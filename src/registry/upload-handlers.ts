import type { Readable } from 'node:stream';
import type { Digest } from '../core/index.ts';
import { StoreError } from '../store/index.ts';
import type { RegistryOptions, RequestContext } from './context.ts';
import { hasBody, readDeclaredBody, sendEmpty, smallBodyLength, uploadRange } from './http.ts';
import { toDigest } from './names.ts';
import { RegistryError } from './registry-error.ts';

const uploadUrl = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;
const blobUrl = (name: string, digest: Digest) => `/v2/${name}/blobs/${digest}`;

/** POST /v2/<name>/blobs/uploads/: a session, a single-request upload (`?digest=`), or a mount. */
export async function handleUploadStart(ctx: RequestContext, deps: RegistryOptions, name: string): Promise<unknown> {
  const { req, reply, query, method } = ctx;
  if (method !== 'POST') throw new RegistryError('UNSUPPORTED', `Cannot ${method} the uploads endpoint: use POST`);
  const principal = await deps.authorize(req, name, ['push']);
  const mount = query.get('mount');
  if (mount !== null) {
    const digest = toDigest(mount, 'mount digest');
    const from = query.get('from');
    // Mount only from a repository the caller may pull: otherwise a mount would reveal another
    // repository's content. Without `from` we do not search, and open a normal session instead.
    if (from !== null && from !== name && principal.can(from, 'pull')) {
      const size = await deps.metadata.blobSize(from, digest);
      if (size !== null) {
        await deps.metadata.linkBlob(name, digest, size);
        return sendEmpty(reply, 201, { Location: blobUrl(name, digest), 'Docker-Content-Digest': digest });
      }
    }
  }
  const digestParam = query.get('digest');
  const digest = digestParam === null ? null : toDigest(digestParam);
  const small = digest === null ? null : smallBodyLength(req);
  if (digest !== null && small !== null) {
    // A small single-request upload needs no session: hash in memory, write the blob once.
    const bytes = await readDeclaredBody(req, small);
    await deps.blobs.put(digest, bytes, (size) => deps.metadata.linkBlob(name, digest, size));
    return sendEmpty(reply, 201, { Location: blobUrl(name, digest), 'Docker-Content-Digest': digest });
  }
  const id = await deps.blobs.uploads.create();
  if (digest !== null) {
    try {
      if (hasBody(req)) await deps.blobs.uploads.append(id, 0, req.raw as Readable);
    } catch (err) {
      await deps.blobs.uploads.cancel(id);
      throw err;
    }
    return finishUpload(ctx, deps, name, id, digest);
  }
  return sendEmpty(reply, 202, {
    Location: uploadUrl(name, id),
    Range: '0-0',
    'Docker-Upload-UUID': id,
  });
}

/** PATCH/PUT/GET/DELETE on an upload session. */
export async function handleUpload(
  ctx: RequestContext,
  deps: RegistryOptions,
  name: string,
  id: string,
): Promise<unknown> {
  const { req, reply, query, method } = ctx;
  await deps.authorize(req, name, method === 'GET' ? ['pull'] : ['push']);
  const small = method === 'PUT' && req.headers['content-range'] === undefined ? smallBodyLength(req) : null;
  if (small !== null) {
    // The common monolithic push (POST, then PUT with the whole small blob): one write, no re-read.
    const digest = toDigest(query.get('digest') ?? undefined);
    const bytes = await readDeclaredBody(req, small);
    await deps.blobs.uploads.finishWith(id, digest, bytes, (n) => deps.metadata.linkBlob(name, digest, n));
    return sendEmpty(reply, 201, { Location: blobUrl(name, digest), 'Docker-Content-Digest': digest });
  }
  const size = await deps.blobs.uploads.size(id);
  if (size === null) throw unknownUpload(id);
  switch (method) {
    case 'GET':
      return sendEmpty(reply, 204, {
        Location: uploadUrl(name, id),
        Range: uploadRange(size),
        'Docker-Upload-UUID': id,
      });
    case 'DELETE':
      await deps.blobs.uploads.cancel(id);
      return sendEmpty(reply, 204);
    case 'PATCH': {
      const next = await appendChunk(ctx, deps, id, size);
      return sendEmpty(reply, 202, {
        Location: uploadUrl(name, id),
        Range: uploadRange(next),
        'Docker-Upload-UUID': id,
      });
    }
    case 'PUT': {
      const digest = toDigest(query.get('digest') ?? undefined);
      if (hasBody(req)) await appendChunk(ctx, deps, id, size);
      return finishUpload(ctx, deps, name, id, digest);
    }
    default:
      throw new RegistryError('UNSUPPORTED', `Cannot ${method} an upload session`);
  }
}

// Appends the request body at the session's end. With Content-Range the chunk must start exactly there
// (416 otherwise, as the spec requires for out-of-order and repeated chunks).
async function appendChunk(ctx: RequestContext, deps: RegistryOptions, id: string, size: number): Promise<number> {
  const { req } = ctx;
  const header = req.headers['content-range'];
  if (header !== undefined) {
    const m = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(header.trim());
    if (m === null)
      throw new RegistryError('BLOB_UPLOAD_INVALID', `Cannot parse Content-Range "${header}": use <start>-<end>`);
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (start !== size || end < start) {
      throw new RegistryError(
        'RANGE_INVALID',
        `Cannot accept chunk ${start}-${end}: the upload holds ${size} bytes, so the next chunk starts at ${size}`,
        {
          headers: { Range: uploadRange(size), Location: req.url.split('?')[0]! },
        },
      );
    }
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) !== end - start + 1) {
      throw new RegistryError(
        'RANGE_INVALID',
        `Cannot accept chunk ${start}-${end}: Content-Length ${length} does not match the range`,
        {
          headers: { Range: uploadRange(size) },
        },
      );
    }
  }
  try {
    return await deps.blobs.uploads.append(id, size, req.raw as Readable);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'CONFLICT') {
      throw new RegistryError('RANGE_INVALID', err.message, {
        cause: err,
        headers: { Range: uploadRange((await deps.blobs.uploads.size(id)) ?? 0) },
      });
    }
    throw err;
  }
}

async function finishUpload(
  { reply }: RequestContext,
  deps: RegistryOptions,
  name: string,
  id: string,
  digest: Digest,
): Promise<unknown> {
  // A digest mismatch removes the session inside finish(); the client starts again.
  await deps.blobs.uploads.finish(id, digest, (size) => deps.metadata.linkBlob(name, digest, size));
  return sendEmpty(reply, 201, { Location: blobUrl(name, digest), 'Docker-Content-Digest': digest });
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError(
    'BLOB_UPLOAD_UNKNOWN',
    `Cannot find upload "${id.slice(0, 80)}": it finished, was cancelled or expired`,
  );
}
