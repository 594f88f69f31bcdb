import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { type Clock, systemClock } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { renderAuditHTML } from '../release/audit-html.ts';
import { renderAuditMarkdown } from '../release/audit-markdown.ts';
import { buildAuditReport } from '../release/audit-report.ts';
import { parseAuditTime } from '../release/audit-time.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface AuditRouteDeps {
  ledger: Ledger;
  gate: Gatekeeper;
  clock?: Clock;
  /** The ledger key and origin: when given, the report also checks the checkpoint's signature. */
  key?: { publicKey: KeyObject; origin: string };
}

type Query = Record<string, unknown>;

const FORMATS = ['json', 'md', 'html'] as const;
const MAX_ROWS = 1_000_000;
// The page may hold anything a leaf says: no script, no external resource, ever.
const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/**
 * GET /api/v1/audit/report?since=&until=&stage=&format=json|md|html&limit=: who built, signed, approved
 * and promoted what, when, under which pipeline version, every row with its inclusion proof against the
 * latest checkpoint. `since`/`until` take RFC 3339 times or durations back from now (7d, 12h).
 */
export async function auditRoutes(app: FastifyInstance, deps: AuditRouteDeps): Promise<void> {
  const clock = deps.clock ?? systemClock;
  app.get<{ Querystring: Query }>('/audit/report', async (req, reply) => {
    await deps.gate.authorize(req, 'audit.read');
    const q = req.query;
    const now = clock.now();
    const since = bound(q, 'since', now);
    const until = bound(q, 'until', now);
    if (since !== undefined && until !== undefined && since > until)
      throw new APIError('INVALID_REQUEST', 'Cannot build the audit report: since is after until');
    const format = one(q, 'format') ?? 'json';
    if (!(FORMATS as readonly string[]).includes(format))
      throw new APIError(
        'INVALID_REQUEST',
        `Cannot build the audit report: format must be one of ${FORMATS.join(', ')}`,
      );
    const stage = one(q, 'stage');
    if (stage !== undefined && (stage === '' || stage.length > 255))
      throw new APIError('INVALID_REQUEST', 'Cannot build the audit report: stage must be 1 to 255 characters');
    const limit = one(q, 'limit');
    const maxRows = limit === undefined ? undefined : Number(limit);
    if (maxRows !== undefined && (!Number.isSafeInteger(maxRows) || maxRows < 1 || maxRows > MAX_ROWS))
      throw new APIError('INVALID_REQUEST', `Cannot build the audit report: limit must be 1 to ${MAX_ROWS}`);

    // A client that goes away stops the scan.
    const abort = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const report = await buildAuditReport({
      ledger: deps.ledger,
      clock,
      signal: abort.signal,
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
      ...(stage === undefined ? {} : { stage }),
      ...(maxRows === undefined ? {} : { maxRows }),
      ...(deps.key === undefined ? {} : { key: deps.key }),
    });
    reply.header('Cache-Control', 'no-store');
    if (format === 'md') return reply.type('text/markdown; charset=utf-8').send(renderAuditMarkdown(report));
    if (format === 'html') {
      return reply
        .type('text/html; charset=utf-8')
        .header('Content-Security-Policy', PAGE_POLICY)
        .header('X-Content-Type-Options', 'nosniff')
        .send(renderAuditHTML(report));
    }
    return { apiVersion: 'fixity.dev/v1', kind: 'AuditReport', ...report };
  });
}

function one(q: Query, name: string): string | undefined {
  const value = q[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new APIError('INVALID_REQUEST', `Cannot build the audit report: give ${name} once`);
  return value;
}

function bound(q: Query, name: 'since' | 'until', now: Date): Date | undefined {
  const text = one(q, name);
  if (text === undefined) return undefined;
  const at = parseAuditTime(text, now);
  if (at === null) {
    throw new APIError(
      'INVALID_REQUEST',
      `Cannot build the audit report: ${name} "${text.slice(0, 40)}" is neither an RFC 3339 time nor a duration such as 7d`,
    );
  }
  return at;
}
