import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Action, Identity } from '../access/index.ts';
import { type Clock, canonicalBytes, type Digest, isDigest, type Signer } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import {
  dsseBody,
  hashedrekordBody,
  keyIdOf,
  loadPublicKey,
  loggedTlogEntry,
  parseStatement,
  type TrustStore,
  verifyEnvelope,
  verifySignature,
} from '../trust/index.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface SignatureRouteDeps {
  ledger: Ledger;
  ledgerSigner: Signer;
  trust: TrustStore;
  gate: Gatekeeper;
  clock: Clock;
}

const b64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64');
const Submission = z.object({
  repository: z.string().min(1).max(255),
  entries: z
    .array(
      z.discriminatedUnion('kind', [
        z.object({
          kind: z.literal('hashedrekord'),
          /** The signed bytes: an image manifest or a cosign simple-signing payload. */
          message: b64,
          signature: b64,
          publicKey: z.string().min(1).max(10_000),
          format: z.enum(['sigstore-bundle', 'cosign-legacy']),
          subject: z.string(),
        }),
        z.object({
          kind: z.literal('dsse'),
          envelope: z.object({
            payload: b64,
            payloadType: z.string(),
            signatures: z.array(z.object({ keyid: z.string().optional(), sig: b64 })).length(1),
          }),
          publicKey: z.string().min(1).max(10_000),
        }),
      ]),
    )
    .min(1)
    .max(16),
});
type Entry = z.infer<typeof Submission>['entries'][number];

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/**
 * POST /api/v1/signatures: the server checks each signature against the public key it names, writes it
 * into the ledger as a Rekor-shaped leaf (hashedrekord or dsse 0.0.1 plus who, when and which digests), and
 * returns the tlog entries (inclusion proof, checkpoint, SET) the client puts into its Sigstore bundles.
 */
export async function signatureRoutes(app: FastifyInstance, deps: SignatureRouteDeps): Promise<void> {
  const { ledger, gate } = deps;
  app.post('/signatures', async (req, reply) => {
    const parsed = Submission.safeParse(req.body);
    if (!parsed.success)
      throw new APIError('INVALID_REQUEST', `Cannot record signatures: ${parsed.error.issues[0]?.message}`);
    const { repository, entries } = parsed.data;
    // A DSSE entry is an attestation (provenance, SBOM, VSA); a hashedrekord entry signs an image digest.
    for (const action of new Set(entries.map((e): Action => (e.kind === 'dsse' ? 'attest' : 'sign'))))
      await gate.authorize(req, action, { repository });
    const identity = await gate.authorize(req, 'registry.pull', { repository });
    const time = deps.clock.now();
    const integratedTime = Math.floor(time.getTime() / 1000);
    const leaves = parsed.data.entries.map((e) => toLeaf(e, { identity, repository: parsed.data.repository, time }));
    const appended = await ledger.append(leaves.map((l) => ({ body: l.body, digests: l.digests })));
    const items = [];
    for (const [i, leaf] of leaves.entries()) {
      const { index } = appended[i]!;
      items.push({
        keyId: leaf.keyId,
        digests: leaf.digests,
        tlogEntry: await loggedTlogEntry({
          ledgerSigner: deps.ledgerSigner,
          logIndex: index,
          kind: leaf.kind,
          body: leaf.body,
          integratedTime,
          proof: await ledger.inclusionProof(index),
        }),
      });
    }
    return reply.code(201).send({ apiVersion: 'fixity.dev/v1', kind: 'SignatureRecordList', items });
  });
}

interface Leaf {
  kind: 'hashedrekord' | 'dsse';
  body: Uint8Array;
  digests: string[];
  keyId: string;
}

// Verifies one submitted signature and shapes its leaf; a bad one fails the whole request, nothing logged.
function toLeaf(entry: Entry, who: { identity: Identity; repository: string; time: Date }): Leaf {
  const key = loadKey(entry.publicKey);
  const keyId = keyIdOf(key);
  const common = { actor: who.identity.actor, time: who.time.toISOString(), repository: who.repository, keyId };
  if (entry.kind === 'hashedrekord') {
    const message = Buffer.from(entry.message, 'base64');
    const signature = Buffer.from(entry.signature, 'base64');
    if (!verifySignature(key, message, signature))
      throw new APIError('INVALID_REQUEST', 'Cannot record the signature: it does not verify with the given key');
    if (!isDigest(entry.subject))
      throw new APIError('INVALID_REQUEST', `Cannot record the signature: "${entry.subject}" is not a digest`);
    const body = {
      ...hashedrekordBody({ digestHex: sha256(message).toString('hex'), signature, publicKeyPem: entry.publicKey }),
      event: 'signature',
      format: entry.format,
      digests: [entry.subject as Digest],
      ...common,
    };
    return { kind: 'hashedrekord', body: canonicalBytes(body), digests: body.digests, keyId };
  }
  let payload: Uint8Array;
  try {
    payload = verifyEnvelope(entry.envelope, [key]);
  } catch {
    throw new APIError('INVALID_REQUEST', 'Cannot record the attestation: its DSSE signature does not verify');
  }
  const statement = parseStatement(payload);
  const digests = statement.subject.flatMap((s) =>
    Object.entries(s.digest)
      .filter(([alg]) => alg === 'sha256' || alg === 'sha512')
      .map(([alg, hex]) => `${alg}:${hex}`),
  );
  const body = {
    ...dsseBody({ envelope: entry.envelope, publicKeyPem: entry.publicKey }),
    event: 'attestation',
    predicateType: statement.predicateType,
    digests,
    ...common,
  };
  return { kind: 'dsse', body: canonicalBytes(body), digests, keyId };
}

function loadKey(pem: string) {
  try {
    return loadPublicKey(pem);
  } catch (err) {
    throw new APIError('INVALID_REQUEST', `Cannot record the signature: ${(err as Error).message}`);
  }
}
