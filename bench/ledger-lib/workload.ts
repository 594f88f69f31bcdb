/**
 * The ledger benchmark's phases, each against one open ledger: durable batched appends from concurrent
 * callers, lookups by digest, inclusion proofs from a cold cache, a full verify, and, as its yardstick, the
 * bare node:crypto work of hashing the same leaves and nodes.
 */
import { createHash, generateKeyPairSync, hash, sign } from 'node:crypto';
import { createManualClock, type Signer } from '../../src/core/index.ts';
import { leafHash, verifyInclusion } from '../../src/ledger/pure.ts';
import { createLedger, type Ledger } from '../../src/ledger/storage.ts';
import type { StoreDatabase } from '../../src/store/index.ts';
import { percentile } from '../lib/stats.ts';

export const ORIGIN = 'bench.fixity.local/ledger';

/** A fresh ECDSA P-256 ledger key, as `fixity serve` makes one. */
export function benchSigner(): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    keyId: createHash('sha256').update(der).digest('hex'),
    algorithm: 'ecdsa-p256-sha256',
    publicKey,
    sign: async (data) => sign('sha256', data, privateKey),
  };
}

// Digests look like content hashes (uniform leading bits) but cost a multiply, not a SHA-256: the clock runs
// while callers build their entries, as real callers do.
const digestBytes = Buffer.alloc(32);
const fmix32 = (x: number): number => {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};
export function digestOf(n: number): string {
  for (let w = 0; w < 8; w++) digestBytes.writeUInt32BE(fmix32(n * 8 + w + 1), w * 4);
  return `sha256:${digestBytes.toString('hex')}`;
}

/** A canonical-JSON leaf about one image digest, ~230 bytes like a registry push event. */
export function entryOf(n: number): { body: Uint8Array; digests: string[] } {
  const digest = digestOf(n);
  const body = `{"actor":"bench","digests":["${digest}"],"event":"push","repo":"library/hello","seq":${n},"time":"2025-01-01T00:00:00.000Z"}`;
  return { body: Buffer.from(body), digests: [digest] };
}

export function openBenchLedger(
  database: StoreDatabase,
  signer: Signer,
  maxEntries: number,
  cacheBytes?: number,
): Promise<Ledger> {
  return createLedger({
    database,
    signer,
    origin: ORIGIN,
    clock: createManualClock('2025-01-01T00:00:00Z'),
    batch: { maxEntries },
    ...(cacheBytes === undefined ? {} : { cacheBytes }),
  });
}

/** `total` entries appended by `callers` concurrent callers, `perCall` entries per call, each call answered once durable. */
export async function appendPhase(ledger: Ledger, total: number, callers: number, perCall: number) {
  const before = (await ledger.checkpoint()).size;
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let at = next; at < total; at = next) {
        next += perCall;
        const entries = Array.from({ length: Math.min(perCall, total - at) }, (_, i) => entryOf(at + i));
        const s = performance.now();
        const appended = await ledger.append(entries);
        latencies.push(performance.now() - s);
        if (appended.length !== entries.length) throw new Error('append returned the wrong number of indices');
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = await ledger.checkpoint();
  if (after.size !== before + total) throw new Error(`tree grew by ${after.size - before}, not ${total}`);
  const checkpoints = (await ledger.checkpoints(before, 10_000)).length;
  return {
    perSecond: total / seconds,
    seconds,
    batches: checkpoints,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/** Looks up `count` digests appended earlier; each must find exactly its one leaf. */
export async function lookupPhase(ledger: Ledger, total: number, count: number) {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = Math.floor(Math.random() * total);
    const s = performance.now();
    const found = await ledger.findByDigest(digestOf(n));
    latencies.push(performance.now() - s);
    if (found.length !== 1 || found[0] !== n) throw new Error(`findByDigest(${n}) found [${found.join(', ')}]`);
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Inclusion proofs of random leaves against the latest checkpoint; one in a hundred is verified afterwards. */
export async function proofPhase(ledger: Ledger, count: number) {
  const size = (await ledger.checkpoint()).size;
  const latencies: number[] = [];
  const sample: Array<{ index: number; proof: Awaited<ReturnType<Ledger['inclusionProof']>> }> = [];
  for (let i = 0; i < count; i++) {
    const index = Math.floor(Math.random() * size);
    const s = performance.now();
    const proof = await ledger.inclusionProof(index);
    latencies.push(performance.now() - s);
    if (i % 100 === 0) sample.push({ index, proof });
  }
  for (const { index, proof } of sample) {
    const entry = await ledger.entry(index);
    if (!verifyInclusion(index, proof.treeSize, leafHash(entry!.body), proof.hashes, proof.rootHash)) {
      throw new Error(`the inclusion proof of ${index} does not verify`);
    }
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), size };
}

/** One proof per level-0 tile, so every tile of the tree is in the cache (64 MiB holds a 1M-leaf tree's). */
export async function warmPhase(ledger: Ledger): Promise<void> {
  const size = (await ledger.checkpoint()).size;
  for (let index = 0; index < size; index += 256) await ledger.inclusionProof(index);
}

/** A full verify, and the time node:crypto alone takes to hash the same leaves and nodes (bodies already in memory). */
export async function verifyPhase(ledger: Ledger) {
  const t0 = performance.now();
  const report = await ledger.verify();
  const verifySeconds = (performance.now() - t0) / 1000;
  if (!report.ok) throw new Error(`verify found problems: ${report.problems[0]?.message}`);
  const bodies: Buffer[] = [];
  for (let at = 0; at < report.size; at += 65_536) {
    for (const e of await ledger.entries(at, Math.min(at + 65_536, report.size))) bodies.push(e.body);
  }
  const t1 = performance.now();
  const root = hashTree(bodies);
  const hashSeconds = (performance.now() - t1) / 1000;
  if (root.toString('base64') !== report.rootHash) throw new Error('the bare hashing computed another root');
  return { verifySeconds, hashSeconds, ratio: verifySeconds / hashSeconds, size: report.size };
}

// RFC 9162 by levels with nothing but crypto.hash: n leaf hashes and n-1 node hashes.
function hashTree(bodies: readonly Buffer[]): Buffer {
  const leaf = Buffer.alloc(0x10000 + 1);
  let level: Buffer[] = bodies.map((b) => {
    b.copy(leaf, 1);
    return hash('sha256', leaf.subarray(0, b.length + 1), 'buffer');
  });
  const scratch = Buffer.alloc(65);
  scratch[0] = 1;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      level[i]!.copy(scratch, 1);
      level[i + 1]!.copy(scratch, 33);
      next.push(hash('sha256', scratch, 'buffer'));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0] ?? hash('sha256', '', 'buffer');
}
