import type { OutgoingHttpHeaders } from 'node:http';
import type { Digest } from '../core/index.ts';
import type { RegistryOptions, RequestContext } from './context.ts';
import { sendEmpty } from './http.ts';
import { toDigest } from './names.ts';
import { RegistryError } from './registry-error.ts';

/** GET/HEAD/DELETE /v2/<name>/blobs/<digest>, with single byte ranges on GET. */
export async function handleBlob(
  ctx: RequestContext,
  deps: RegistryOptions,
  name: string,
  ref: string,
): Promise<unknown> {
  const { req, reply, method } = ctx;
  if (method === 'DELETE') {
    const principal = await deps.authorize(req, name, ['delete']);
    const digest = toDigest(ref);
    if (!(await deps.metadata.unlinkBlob(name, digest, principal.actor))) throw unknownBlob(name, digest);
    return sendEmpty(reply, 202, { 'Docker-Content-Digest': digest });
  }
  if (method !== 'GET' && method !== 'HEAD') throw new RegistryError('UNSUPPORTED', `Cannot ${method} a blob`);
  await deps.authorize(req, name, ['pull']);
  const digest = toDigest(ref);
  const size = await deps.metadata.blobSize(name, digest);
  if (size === null) throw unknownBlob(name, digest);
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000, immutable',
  };
  const range = parseRange(req.headers.range, size);
  if (range === 'invalid') {
    throw new RegistryError('RANGE_INVALID', `Cannot serve range "${req.headers.range}" of a ${size}-byte blob`, {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
  if (method === 'HEAD') return sendEmpty(reply, 200, { ...headers, 'Content-Length': size });
  const status = range === null ? 200 : 206;
  const bytes = range ?? { start: 0, end: size - 1 };
  const rangeHeaders = range === null ? {} : { 'Content-Range': `bytes ${range.start}-${range.end}/${size}` };
  // Written straight to the socket through reused buffers (see sendFile); onResponse hooks still run.
  const ready = () => {
    reply.hijack();
    reply.headers({ ...headers, ...rangeHeaders, 'Content-Length': bytes.end - bytes.start + 1 });
    reply.raw.writeHead(status, reply.getHeaders() as OutgoingHttpHeaders);
  };
  try {
    if (!(await deps.blobs.send(digest, reply.raw, bytes, ready))) throw unknownBlob(name, digest);
  } catch (err) {
    if (!reply.sent) throw err;
    // Headers are out: all that is left is to cut the connection so the client sees a short body.
    reply.raw.destroy(err as Error);
    return reply;
  }
  reply.raw.end();
  return reply;
}

function unknownBlob(name: string, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `Cannot find blob ${digest} in "${name}"`, { detail: { digest } });
}

/**
 * Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range; multiple ranges, and units other than bytes (which
 * RFC 9110 §14.2 says to ignore), are served as the whole blob.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'invalid' {
  if (header === undefined || !/^\s*bytes=/i.test(header)) return null;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(header.trim());
  if (m === null) return header.includes(',') ? null : 'invalid';
  const [, a, b] = m;
  if (a === '' && b === '') return 'invalid';
  if (a === '') {
    const n = Math.min(Number(b), size);
    return n === 0 ? 'invalid' : { start: size - n, end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'invalid';
  return { start, end };
}
