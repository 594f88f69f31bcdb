// Shared by the audit suites: a ledger on a real database holding the story of three digests (built, signed,
// approved, promoted under two pipeline versions, held and vetoed) among hundreds of ordinary registry events.
import { createHash } from 'node:crypto';
import { canonicalBytes, createManualClock, type Signer } from '../src/core/index.ts';
import { createLedger, type Ledger } from '../src/ledger/index.ts';
import type { StoreDatabase } from '../src/store/index.ts';
import { generateKeyPair, loadSigner } from '../src/trust/index.ts';
import type { TestDatabase } from './support/databases.ts';

export const ORIGIN = 'fixity.test/audit';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
export const D1 = sha('shop/app 1.0');
export const D2 = sha('shop/app 1.1');
export const D3 = sha('shop/api 2.0');
export const P1 = sha('pipeline v1');
export const P2 = sha('pipeline v2');
export const X1 = sha('policy 1');
export const X2 = sha('policy 2');
const K1 = createHash('sha256').update('ci key').digest('hex');
export const SLSA = 'https://slsa.dev/provenance/v1';

/** `2025-03-DDTHH:00:00Z`. */
export const at = (day: number, hour = 12) =>
  `2025-03-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00Z`;

const push = (digest: string, actor: string, time: string, repo: string, tag: string, seq: number) => ({
  event: 'manifest.push',
  actor,
  time,
  digests: [digest],
  seq,
  repo,
  tag,
});
const dsse = { apiVersion: '0.0.1', kind: 'dsse', spec: { payloadHash: { algorithm: 'sha256', value: 'ab' } } };
const promotion = (o: { digest: string; actor: string; time: string; stage: string; v: number; trigger: string }) => ({
  ...dsse,
  event: 'promotion',
  actor: o.actor,
  time: o.time,
  digests: [o.digest],
  repository: o.digest === D3 ? 'shop/api' : 'shop/app',
  stage: o.stage,
  trigger: o.trigger,
  pipelineVersion: o.v,
  pipelineDigest: o.v === 1 ? P1 : P2,
  policyDigest: o.v === 1 ? X1 : X2,
  vsa: sha(`vsa ${o.digest} ${o.stage}`),
  keyId: K1,
});

/** Where the story's leaves land, by name. */
export const STORY = {
  keyRegistered: 0,
  pipeline1: 1,
  pushD1: 2,
  provenanceD1: 3,
  signD1: 4,
  pushD3: 5,
  promoteD1Test: 6,
  // 300 ordinary pushes (day 4) follow, so later leaves sit in other tiles
  pushD2: 307,
  pipeline2: 308,
  approveD1Staging: 309,
  promoteD1Staging: 310,
  holdProduction: 311,
  vetoD2: 312,
  custom: 313,
  approveD3Production: 314,
  promoteD3Production: 315,
  // 300 more (day 9)
} as const;
export const STORY_SIZE = 616;

/** The leaves, in ledger order. */
export function storyLeaves(actorOfApproval = 'alice'): object[] {
  const filler = (from: number, day: number) =>
    Array.from({ length: 300 }, (_, i) =>
      push(sha(`filler ${from + i}`), 'ci-bot', at(day, i % 24), 'shop/misc', `b${from + i}`, from + i),
    );
  return [
    {
      event: 'key.registered',
      actor: 'admin',
      time: at(1),
      digests: [`sha256:${K1}`],
      keyId: K1,
      role: 'signer',
      name: 'ci',
    },
    { event: 'pipeline.applied', actor: 'admin', time: at(1, 13), digests: [P1], version: 1 },
    push(D1, 'ci-bot', at(2), 'shop/app', '1.0', 1),
    {
      ...dsse,
      event: 'attestation',
      actor: 'ci-bot',
      time: at(2, 13),
      digests: [D1],
      predicateType: SLSA,
      repository: 'shop/app',
      keyId: K1,
    },
    {
      event: 'signature',
      actor: 'ci-bot',
      time: at(2, 14),
      digests: [D1],
      format: 'sigstore-bundle',
      repository: 'shop/app',
      keyId: K1,
      kind: 'hashedrekord',
    },
    push(D3, 'ci-bot', at(2, 15), 'shop/api', '2.0', 2),
    promotion({ digest: D1, actor: 'fixity', time: at(3), stage: 'test', v: 1, trigger: 'auto' }),
    ...filler(1000, 4),
    push(D2, 'ci-bot', at(5), 'shop/app', '1.1', 3),
    { event: 'pipeline.applied', actor: 'admin', time: at(5, 13), digests: [P2], version: 2 },
    {
      event: 'approval',
      actor: actorOfApproval,
      time: at(6),
      digests: [D1],
      repository: 'shop/app',
      stage: 'staging',
      comment: 'LGTM',
    },
    promotion({ digest: D1, actor: 'bob', time: at(6, 13), stage: 'staging', v: 2, trigger: 'manual' }),
    { event: 'hold', actor: 'carol', time: at(7), digests: [], stage: 'production', reason: 'incident 42' },
    { event: 'veto', actor: 'dave', time: at(7, 13), digests: [D2], reason: 'CVE-2025-0001' },
    { event: 'custom.thing', actor: 'eve', time: at(7, 14), digests: [], widget: 'gizmo' },
    { event: 'approval', actor: 'alice', time: at(8), digests: [D3], repository: 'shop/api', stage: 'production' },
    promotion({ digest: D3, actor: 'bob', time: at(8, 13), stage: 'production', v: 2, trigger: 'manual' }),
    ...filler(2000, 9),
  ];
}

export interface StoryLedger {
  ledger: Ledger;
  store: StoreDatabase;
  signer: Signer;
  publicKeyPem: string;
  close(): Promise<void>;
}

/** A ledger on `engine` holding the story, appended in several batches (so several checkpoints exist). */
export async function storyLedger(engine: TestDatabase, leaves = storyLeaves()): Promise<StoryLedger> {
  const store = await engine.open();
  const keys = generateKeyPair('p256');
  const signer = loadSigner(keys.privateKeyPem);
  const ledger = await createLedger({ database: store, signer, origin: ORIGIN, clock: createManualClock(at(10)) });
  const bodies = leaves.map((leaf) => {
    const digests = (leaf as { digests: string[] }).digests;
    return { body: canonicalBytes(leaf), digests };
  });
  for (const [from, to] of [
    [0, 7],
    [7, 310],
    [310, 400],
    [400, bodies.length],
  ] as const) {
    await ledger.append(bodies.slice(from, to));
  }
  return {
    ledger,
    store,
    signer,
    publicKeyPem: keys.publicKeyPem,
    async close() {
      await ledger.close();
      await store.close();
    },
  };
}
