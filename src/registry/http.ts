import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from './registry-error.ts';

/** Ends a response with status and headers only (HEAD, 201/202/204), keeping the headers we set. */
export function sendEmpty(
  reply: FastifyReply,
  status: number,
  headers: Record<string, string | number> = {},
): FastifyReply {
  reply.code(status).headers(headers);
  if (!('Content-Length' in headers)) reply.header('Content-Length', 0);
  return reply.send();
}

/** Reads a small body fully, refusing more than `limit` bytes (413) before buffering it. */
export async function readBody(req: FastifyRequest, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop must not destroy the request: that would reset the socket before the 413 is sent.
  // The error renderer answers with `Connection: close`, and Node discards the rest of the body.
  for await (const chunk of req.raw.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError(
    'MANIFEST_TOO_LARGE',
    `Cannot accept manifest: it is larger than the limit of ${limit} bytes`,
    {
      detail: { limit },
    },
  );
}

/** Largest body read into memory and written in one go instead of streamed (small layers, configs). */
export const SMALL_BODY = 1024 * 1024;

/** The declared Content-Length when it is at most SMALL_BODY and non-zero, else null (stream the body). */
export function smallBodyLength(req: FastifyRequest): number | null {
  const length = req.headers['content-length'];
  if (length === undefined || req.headers['transfer-encoding'] !== undefined) return null;
  const n = Number(length);
  return Number.isSafeInteger(n) && n > 0 && n <= SMALL_BODY ? n : null;
}

/** Reads a body of a declared length fully; Node's parser guarantees no more than `length` bytes arrive. */
export function readDeclaredBody(req: FastifyRequest, length: number): Promise<Buffer> {
  const raw = req.raw;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
    };
    const onEnd = () => {
      cleanup();
      if (size === length) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      else reject(new Error(`Cannot read request body: got ${size} of ${length} bytes`));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => onError(new Error(`Cannot read request body: the connection closed after ${size} bytes`));
    const cleanup = () => {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('error', onError);
      raw.off('close', onClose);
    };
    raw.on('data', onData);
    raw.once('end', onEnd);
    raw.once('error', onError);
    raw.once('close', onClose);
  });
}

/** True when the request carries a body (a declared non-zero length, or chunked transfer). */
export function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** `Range` header value for an upload holding `size` bytes (the spec's inclusive `0-<end>`). */
export function uploadRange(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}
