import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AccessError, type AccessErrorCode } from '../access/index.ts';
import { BaseError } from '../core/index.ts';

/** JSON API error codes and their statuses; rendered as `{"error":{"code","message"}}`. */
export const API_STATUS: Record<AccessErrorCode | 'INVALID_REQUEST' | 'CONFLICT' | 'REFUSED' | 'INTERNAL', number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  TOKEN_INVALID: 401,
  SCOPE_INVALID: 400,
  NOT_FOUND: 404,
  INVALID_REQUEST: 400,
  /** Another change got there first (a rollout in progress, a promotion race). */
  CONFLICT: 409,
  /** Policy refuses it (a vetoed or unpromoted digest). */
  REFUSED: 422,
  INTERNAL: 500,
};

export class APIError extends BaseError<keyof typeof API_STATUS> {}

export function renderAPIError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof APIError || err instanceof AccessError) {
    const status = API_STATUS[err.code];
    if (status === 401) reply.header('WWW-Authenticate', 'Bearer realm="fixity"');
    return reply.code(status).send({ error: { code: err.code, message: err.message } });
  }
  if (err.validation !== undefined || (err.statusCode !== undefined && err.statusCode < 500)) {
    return reply.code(err.statusCode ?? 400).send({ error: { code: 'INVALID_REQUEST', message: err.message } });
  }
  req.log.error({ err }, 'api request failed');
  return reply
    .code(500)
    .send({ error: { code: 'INTERNAL', message: 'Cannot complete the request: internal error (see the server log)' } });
}
