import type { FastifyInstance } from 'fastify';
import { isDigest } from '../core/index.ts';
import { type Ledger, LedgerError, parseTilePath } from '../ledger/index.ts';
import { APIError } from './api-error.ts';
import type { Gatekeeper } from './gatekeeper.ts';

export interface LedgerRouteDeps {
  ledger: Ledger;
  gate: Gatekeeper;
  /** The ledger key's SPKI PEM and the log's identity, published so anyone can verify offline. */
  publicKeyPem: string;
  logId: string;
  origin: string;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/**
 * The ledger under /api/v1/ledger: its public key and latest signed checkpoint, entries with inclusion
 * proofs, consistency proofs, lookup by digest, the C2SP tlog-tiles layout, export and a server-side verify.
 */
export async function ledgerRoutes(app: FastifyInstance, deps: LedgerRouteDeps): Promise<void> {
  const { ledger, gate } = deps;
  const index = (text: string | undefined, what: string): number => {
    const n = Number(text);
    if (text === undefined || !Number.isSafeInteger(n) || n < 0)
      throw new APIError('INVALID_REQUEST', `Cannot read ${what}: give a non-negative integer`);
    return n;
  };
  const proofView = (p: Awaited<ReturnType<Ledger['inclusionProof']>>) => ({
    logIndex: p.index,
    treeSize: p.treeSize,
    rootHash: b64(p.rootHash),
    hashes: p.hashes.map(b64),
    checkpoint: p.checkpoint,
  });

  app.get('/ledger', async (req) => {
    await gate.authorize(req, 'ledger.read');
    const cp = await ledger.checkpoint();
    return {
      apiVersion: 'fixity.dev/v1',
      kind: 'Ledger',
      origin: deps.origin,
      logId: deps.logId,
      publicKey: deps.publicKeyPem,
      size: cp.size,
      rootHash: b64(cp.root),
      checkpoint: cp.note,
    };
  });

  app.get('/ledger/checkpoint', async (req, reply) => {
    await gate.authorize(req, 'ledger.read');
    return reply
      .type('text/plain; charset=utf-8')
      .header('Cache-Control', 'no-cache')
      .send((await ledger.checkpoint()).note);
  });

  app.get<{ Querystring: { after?: string; limit?: string } }>('/ledger/checkpoints', async (req) => {
    await gate.authorize(req, 'ledger.read');
    const after = req.query.after === undefined ? 0 : index(req.query.after, 'after');
    const limit = Math.min(req.query.limit === undefined ? 1000 : index(req.query.limit, 'limit'), 10_000);
    const items = await ledger.checkpoints(after, limit);
    return { apiVersion: 'fixity.dev/v1', kind: 'CheckpointList', items };
  });

  // The newest entries first, without proofs (the dashboard's activity feed); one entry with its proof below.
  app.get<{ Querystring: { last?: string } }>('/ledger/entries', async (req) => {
    await gate.authorize(req, 'ledger.read');
    const last = Math.min(req.query.last === undefined ? 10 : index(req.query.last, 'last'), 100);
    const { size } = await ledger.checkpoint();
    const items = [];
    for (let i = size - 1; i >= Math.max(0, size - last); i--) {
      const entry = await ledger.entry(i);
      if (entry !== null) items.push({ index: i, entry: JSON.parse(Buffer.from(entry.body).toString('utf8')) });
    }
    return { apiVersion: 'fixity.dev/v1', kind: 'LedgerEntryList', size, items };
  });

  app.get<{ Params: { index: string }; Querystring: { treeSize?: string } }>('/ledger/entries/:index', async (req) => {
    await gate.authorize(req, 'ledger.read');
    const i = index(req.params.index, 'the entry index');
    const entry = await ledger.entry(i);
    if (entry === null) throw new APIError('NOT_FOUND', `Cannot find ledger entry ${i}: the ledger is shorter`);
    const size = req.query.treeSize === undefined ? undefined : index(req.query.treeSize, 'treeSize');
    return {
      apiVersion: 'fixity.dev/v1',
      kind: 'LedgerEntry',
      index: i,
      body: b64(entry.body),
      entry: JSON.parse(Buffer.from(entry.body).toString('utf8')),
      inclusionProof: proofView(await ledger.inclusionProof(i, size)),
    };
  });

  app.get<{ Querystring: { from?: string; to?: string } }>('/ledger/proof/consistency', async (req) => {
    await gate.authorize(req, 'ledger.read');
    const from = index(req.query.from, 'from');
    const to = req.query.to === undefined ? (await ledger.checkpoint()).size : index(req.query.to, 'to');
    const hashes = await ledger.consistencyProof(from, to);
    return { apiVersion: 'fixity.dev/v1', kind: 'ConsistencyProof', from, to, hashes: hashes.map(b64) };
  });

  app.get<{ Params: { digest: string } }>('/ledger/digests/:digest', async (req) => {
    await gate.authorize(req, 'ledger.read');
    const { digest } = req.params;
    if (!isDigest(digest)) throw new APIError('INVALID_REQUEST', `Cannot look up "${digest}": not an OCI digest`);
    const indices = await ledger.findByDigest(digest);
    const cp = await ledger.checkpoint();
    const items = [];
    for (const i of indices.filter((n) => n < cp.size)) {
      const entry = await ledger.entry(i);
      if (entry === null) continue;
      items.push({
        index: i,
        entry: JSON.parse(Buffer.from(entry.body).toString('utf8')),
        body: b64(entry.body),
        inclusionProof: proofView(await ledger.inclusionProof(i, cp.size)),
      });
    }
    return { apiVersion: 'fixity.dev/v1', kind: 'LedgerEntryList', digest, checkpoint: cp.note, items };
  });

  // C2SP tlog-tiles: full tiles are immutable, so they can be cached forever; the checkpoint is above.
  app.get<{ Params: { '*': string } }>('/ledger/tile/*', async (req, reply) => {
    await gate.authorize(req, 'ledger.read');
    let parsed: ReturnType<typeof parseTilePath>;
    try {
      parsed = parseTilePath(`tile/${req.params['*']}`);
    } catch (err) {
      if (err instanceof LedgerError) throw new APIError('INVALID_REQUEST', err.message);
      throw err;
    }
    const bytes =
      parsed.kind === 'entries'
        ? await ledger.entryBundle(parsed.index, parsed.width)
        : await ledger.tile(parsed.level, parsed.index, parsed.width);
    if (bytes === null) throw new APIError('NOT_FOUND', `Cannot find ${req.url}: the tree has not grown that far`);
    return reply
      .type('application/octet-stream')
      .header('Cache-Control', 'public, max-age=31536000, immutable')
      .send(Buffer.from(bytes));
  });

  // Anyone who may read entries may verify them all: the export is those entries, nothing more.
  app.get('/ledger/export', async (req, reply) => {
    await gate.authorize(req, 'ledger.read');
    reply.type('application/x-tar').header('Content-Disposition', 'attachment; filename="fixity-ledger.tar"');
    return reply.send(ledger.exportArchive({ publicKeyPem: deps.publicKeyPem }));
  });

  app.post('/ledger/verify', async (req) => {
    await gate.admin(req);
    return { apiVersion: 'fixity.dev/v1', kind: 'LedgerVerification', ...(await ledger.verify()) };
  });

  app.get('/ledger/trusted-root', async (req) => {
    await gate.authorize(req, 'ledger.read');
    return sigstoreTrustedRoot(deps);
  });
}

/**
 * A Sigstore `trusted_root.json` naming this ledger as a transparency log, so a stock Sigstore verifier
 * checks the inclusion proofs in bundles Fixity issued (`baseUrl` must match the checkpoint's key name).
 */
export function sigstoreTrustedRoot(deps: { publicKeyPem: string; logId: string; origin: string }) {
  const der = Buffer.from(deps.publicKeyPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: `https://${deps.origin}`,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: der.toString('base64'),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start: '1970-01-01T00:00:00Z' },
        },
        logId: { keyId: Buffer.from(deps.logId, 'hex').toString('base64') },
      },
    ],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}
