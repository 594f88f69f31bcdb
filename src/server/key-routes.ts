import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Clock, canonicalBytes } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { KEY_ROLES, TrustError, type TrustStore } from '../trust/index.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface KeyRouteDeps {
  trust: TrustStore;
  ledger: Ledger;
  gate: Gatekeeper;
  clock: Clock;
}

const Registration = z.object({
  name: z.string().min(1).max(200),
  role: z.enum(KEY_ROLES),
  publicKey: z.string().min(1).max(10_000),
  validFrom: z.iso.datetime({ offset: true }).optional(),
  validUntil: z.iso.datetime({ offset: true }).optional(),
});

/** The trust store under /api/v1/keys: register public keys per role, list them, revoke them (an event). */
export async function keyRoutes(app: FastifyInstance, deps: KeyRouteDeps): Promise<void> {
  const { trust, ledger, gate } = deps;
  const record = async (event: string, actor: string, detail: Record<string, unknown> & { keyId: string }) => {
    const time = deps.clock.now().toISOString();
    const body = canonicalBytes({ event, actor, time, digests: [`sha256:${detail.keyId}`], ...detail });
    await ledger.append([{ body, digests: [`sha256:${detail.keyId}`] }]);
  };
  const rethrow = (err: unknown): never => {
    if (err instanceof TrustError) {
      throw new APIError(err.code === 'KEY_UNKNOWN' ? 'NOT_FOUND' : 'INVALID_REQUEST', err.message);
    }
    throw err;
  };

  app.get<{ Querystring: { role?: string } }>('/keys', async (req) => {
    await gate.identify(req);
    const role = req.query.role;
    if (role !== undefined && !(KEY_ROLES as readonly string[]).includes(role))
      throw new APIError('INVALID_REQUEST', `Cannot list keys: role must be one of ${KEY_ROLES.join(', ')}`);
    const items = await trust.list(role === undefined ? {} : { role: role as (typeof KEY_ROLES)[number] });
    return { apiVersion: 'fixity.dev/v1', kind: 'KeyList', items };
  });

  app.post('/keys', async (req, reply) => {
    const identity = await gate.authorize(req, 'keys.manage');
    const parsed = Registration.safeParse(req.body);
    if (!parsed.success)
      throw new APIError('INVALID_REQUEST', `Cannot register the key: ${parsed.error.issues[0]?.message}`);
    const { name, role, publicKey, validFrom, validUntil } = parsed.data;
    const key = await trust
      .register({
        name,
        role,
        publicKeyPem: publicKey,
        registeredBy: identity.actor,
        ...(validFrom === undefined ? {} : { validFrom: new Date(validFrom) }),
        ...(validUntil === undefined ? {} : { validUntil: new Date(validUntil) }),
      })
      .catch(rethrow);
    await record('key.registered', identity.actor, {
      keyId: key.keyId,
      role,
      name,
      validFrom: key.validFrom,
      validUntil: key.validUntil,
    });
    return reply.code(201).send({ apiVersion: 'fixity.dev/v1', kind: 'Key', ...key });
  });

  app.post<{ Params: { id: string }; Body: { reason?: unknown } }>('/keys/:id/revoke', async (req) => {
    const identity = await gate.authorize(req, 'keys.manage');
    const reason = typeof req.body?.reason === 'string' ? req.body.reason : '';
    const revoked = await trust.revoke({ keyId: req.params.id, reason, revokedBy: identity.actor }).catch(rethrow);
    await record('key.revoked', identity.actor, { keyId: req.params.id, reason, revokedAt: revoked.revokedAt });
    return { apiVersion: 'fixity.dev/v1', kind: 'KeyRevocation', ...revoked };
  });
}
