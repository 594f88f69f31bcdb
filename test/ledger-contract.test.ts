// The Ledger's contract, on every engine testDatabases() offers: batching, proofs against signed checkpoints,
// lookups, the tlog-tiles resources, the registry event feed, and what survives a close or a second writer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { createManualClock, isErrorWithCode } from '../src/core/index.ts';
import {
  decodeEntryBundle,
  EMPTY_ROOT,
  leafHash,
  openCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '../src/ledger/pure.ts';
import { createLedger, verifyLedgerArchive } from '../src/ledger/storage.ts';
import { appendEvent } from '../src/store/index.ts';
import { digestFor, entryFor, type OpenLedger, ORIGIN, openLedger, testSigner } from './ledger-kit.ts';
import { type TestDatabase, testDatabases } from './support/databases.ts';

const hasCode = (code: string) => (err: unknown) => isErrorWithCode(err, code);

// A writer to kill: eight callers appending as fast as they can, printing the count acknowledged so far.
const CHILD = `
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
const { openDatabase } = await import(${JSON.stringify(new URL('../src/store/index.ts', import.meta.url).href)});
const { createLedger } = await import(${JSON.stringify(new URL('../src/ledger/storage.ts', import.meta.url).href)});
const { entryFor, ORIGIN } = await import(${JSON.stringify(new URL('./ledger-kit.ts', import.meta.url).href)});
const privateKey = createPrivateKey(process.env.LEDGER_KEY);
const publicKey = createPublicKey(privateKey);
const signer = {
  keyId: createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex'),
  algorithm: 'ecdsa-p256-sha256',
  publicKey,
  sign: async (data) => sign('sha256', data, privateKey),
};
const schema = process.env.LEDGER_SCHEMA;
const database = await openDatabase({ url: process.env.LEDGER_URL, ...(schema ? { schema } : {}) });
const ledger = await createLedger({ database, signer, origin: ORIGIN, clock: { now: () => new Date() }, batch: { maxEntries: 200 } });
let acknowledged = 0;
await Promise.all(Array.from({ length: 8 }, async (_, s) => {
  for (let n = 0; ; n++) {
    const batch = Array.from({ length: 10 }, (_, i) => entryFor(s * 1e7 + n * 10 + i, 'kill'));
    const appended = await ledger.append(batch);
    acknowledged += appended.length;
    process.stdout.write(acknowledged + '\\n');
  }
}));
`;

for (const makeEngine of await testDatabases()) {
  const engineName = makeEngine.name.replace('Database', '');
  describe(`ledger contract (${engineName})`, () => {
    let engine: TestDatabase;
    let l: OpenLedger;

    before(async () => {
      engine = await makeEngine();
      l = await openLedger(engine, { batch: { maxEntries: 300 } });
    });
    after(async () => {
      await l?.close();
      await engine?.cleanup();
    });

    test('createLedger() signs an empty checkpoint for a new ledger', async () => {
      const other = await makeEngine();
      const fresh = await openLedger(other);
      try {
        const cp = await fresh.ledger.checkpoint();
        assert.equal(cp.size, 0);
        assert.deepEqual(cp.root, EMPTY_ROOT);
        assert.equal(openCheckpoint(cp.note, fresh.signer.publicKey, ORIGIN).size, 0);
        assert.equal((await fresh.ledger.verify()).ok, true);
        const file = join(await mkdtemp(join(tmpdir(), 'fixity-ledger-empty-')), 'ledger.tar');
        await pipeline(
          fresh.ledger.exportArchive({ publicKeyPem: fresh.signer.publicKeyPem }),
          createWriteStream(file),
        );
        const report = await verifyLedgerArchive(file, fresh.signer.publicKeyPem);
        assert.equal(report.ok, true, JSON.stringify(report.problems));
        assert.equal(report.checkpoints, 1);
        await rm(dirname(file), { recursive: true, force: true });
      } finally {
        await fresh.close();
        await other.cleanup();
      }
    });

    test('append() gives concurrent callers dense indices in call order, in fewer batches than calls', async () => {
      const before = (await l.ledger.checkpoint()).size;
      const checkpointsBefore = (await l.ledger.checkpoints(-1, 10_000)).length;
      const sizes = Array.from({ length: 40 }, (_, i) => 1 + ((i * 7) % 23));
      const results = await Promise.all(
        sizes.map((n, call) => l.ledger.append(Array.from({ length: n }, (_, j) => entryFor(call * 100 + j, 'dense')))),
      );
      const indices = results.flat().map((r) => r.index);
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.deepEqual(
        indices,
        Array.from({ length: total }, (_, i) => before + i),
      );
      for (const [call, r] of results.entries()) {
        assert.deepEqual(r[0]!.leafHash, leafHash(entryFor(call * 100, 'dense').body));
      }
      const cp = await l.ledger.checkpoint();
      assert.equal(cp.size, before + total);
      const batches = (await l.ledger.checkpoints(-1, 10_000)).length - checkpointsBefore;
      assert.ok(
        batches >= Math.ceil(total / 300) && batches < sizes.length,
        `${batches} batches for ${sizes.length} calls`,
      );
    });

    test('inclusionProof() verifies against the signed checkpoint at the latest and at earlier sizes', async () => {
      await l.ledger.append(Array.from({ length: 700 }, (_, i) => entryFor(i, 'proof')));
      const sizes = (await l.ledger.checkpoints(-1, 10_000)).map((c) => c.size).filter((s) => s > 0);
      for (const size of [sizes[0]!, sizes[Math.floor(sizes.length / 2)]!, sizes.at(-1)!]) {
        for (const index of [0, 1, Math.floor(size / 2), size - 2, size - 1].filter((i) => i >= 0 && i < size)) {
          const proof = await l.ledger.inclusionProof(index, size);
          const signed = openCheckpoint(proof.checkpoint, l.signer.publicKey, ORIGIN);
          assert.equal(signed.size, size);
          assert.deepEqual(signed.root, proof.rootHash);
          const entry = await l.ledger.entry(index);
          assert.ok(
            verifyInclusion(index, size, leafHash(entry!.body), proof.hashes, signed.root),
            `${index} in ${size}`,
          );
        }
      }
      const latest = await l.ledger.inclusionProof(5);
      assert.equal(latest.treeSize, (await l.ledger.checkpoint()).size);
      await assert.rejects(l.ledger.inclusionProof(latest.treeSize), hasCode('INDEX_OUT_OF_RANGE'));
      await assert.rejects(l.ledger.inclusionProof(0, sizes.at(-1)! - 1), hasCode('CHECKPOINT_UNKNOWN'));
    });

    test('consistencyProof() proves every checkpoint is a prefix of the latest', async () => {
      const checkpoints = await l.ledger.checkpoints(0, 10_000);
      const latest = checkpoints.at(-1)!;
      for (const c of checkpoints) {
        const proof = await l.ledger.consistencyProof(c.size, latest.size);
        const root = (s: string) => Buffer.from(s, 'base64');
        assert.ok(verifyConsistency(c.size, latest.size, proof, root(c.rootHash), root(latest.rootHash)), `${c.size}`);
      }
      assert.deepEqual(await l.ledger.consistencyProof(0, latest.size), []);
      await assert.rejects(l.ledger.consistencyProof(1, latest.size + 1), hasCode('INDEX_OUT_OF_RANGE'));
      const ok = await l.ledger.checkConsistency({
        size: checkpoints[0]!.size,
        root: Buffer.from(checkpoints[0]!.rootHash, 'base64'),
      });
      assert.equal(ok.ok, true);
      const forged = await l.ledger.checkConsistency({ size: checkpoints[0]!.size, root: Buffer.alloc(32, 7) });
      assert.equal(forged.ok, false);
      assert.equal(forged.problem?.kind, 'fork');
    });

    test('findByDigest() finds every entry about a digest, and nothing for an unknown one', async () => {
      const shared = digestFor(1, 'shared');
      const body = (n: number) =>
        Buffer.from(JSON.stringify({ event: 'tag', digests: [shared, digestFor(n, 'own')], n }));
      const appended = await l.ledger.append([
        { body: body(1), digests: [shared, digestFor(1, 'own')] },
        entryFor(2, 'other'),
        { body: body(3), digests: [shared, digestFor(3, 'own')] },
      ]);
      assert.deepEqual(await l.ledger.findByDigest(shared), [appended[0]!.index, appended[2]!.index]);
      assert.deepEqual(await l.ledger.findByDigest(digestFor(3, 'own')), [appended[2]!.index]);
      assert.deepEqual(await l.ledger.findByDigest(digestFor(9, 'nowhere')), []);
      // The same digest twice in one entry (a tag moved to where it was) is one hit, not a failed batch.
      const twice = digestFor(4, 'twice');
      const [again] = await l.ledger.append([
        { body: Buffer.from(JSON.stringify({ digests: [twice, twice] })), digests: [twice, twice] },
      ]);
      assert.deepEqual(await l.ledger.findByDigest(twice), [again!.index]);
      assert.deepEqual(await l.ledger.findByDigest('not-a-digest'), []);
    });

    test('append() waits maxDelayMs after the first entry of a batch, so appends spread over it share one', async () => {
      const other = await makeEngine();
      const slow = await openLedger(other, { batch: { maxEntries: 1000, maxDelayMs: 50 } });
      try {
        const calls = [];
        for (let i = 0; i < 5; i++) {
          calls.push(slow.ledger.append([entryFor(i, 'delay')]));
          await new Promise((r) => setTimeout(r, 5));
        }
        await Promise.all(calls);
        assert.deepEqual(
          (await slow.ledger.checkpoints(-1)).map((c) => c.size),
          [0, 5],
        );
      } finally {
        await slow.close();
        await other.cleanup();
      }
    });

    test('append() stores what it hashed, even when the caller reuses its buffers right away', async () => {
      const entries = Array.from({ length: 100 }, (_, i) => entryFor(i, 'reused'));
      const pending = l.ledger.append(entries);
      for (const e of entries) e.body.fill(0x20);
      const appended = await pending;
      for (const [i, a] of appended.entries()) {
        assert.deepEqual((await l.ledger.entry(a.index))!.body, Buffer.from(entryFor(i, 'reused').body));
      }
    });

    test('append() refuses an entry that does not mention its digests, or is too large to bundle', async () => {
      await assert.rejects(
        l.ledger.append([{ body: Buffer.from('{}'), digests: [digestFor(1)] }]),
        hasCode('ENTRY_INVALID'),
      );
      await assert.rejects(
        l.ledger.append([{ body: Buffer.alloc(70_000, 32), digests: [] }]),
        hasCode('ENTRY_TOO_LARGE'),
      );
    });

    test('tile() and entryBundle() serve the C2SP tlog-tiles resources, full and partial', async () => {
      const size = (await l.ledger.checkpoint()).size;
      assert.ok(size > 512);
      const full = await l.ledger.tile(0, 1);
      const leaves = await l.ledger.entries(256, 512);
      assert.deepEqual(full, Buffer.concat(leaves.map((e) => e.leafHash)));
      const bundle = await l.ledger.entryBundle(1);
      assert.deepEqual(
        decodeEntryBundle(bundle!),
        leaves.map((e) => e.body),
      );
      const edge = Math.floor(size / 256);
      const width = size % 256;
      assert.equal((await l.ledger.tile(0, edge, width))?.length, width * 32);
      assert.equal(await l.ledger.tile(0, edge), null, 'the right edge is not full yet');
      assert.equal((await l.ledger.tile(0, 1, 10))?.length, 320, 'a partial request of a full tile is its prefix');
      assert.equal(decodeEntryBundle((await l.ledger.entryBundle(edge, width))!).length, width);
      assert.equal(await l.ledger.entryBundle(edge + 1, 1), null);
      // Tile level 1 holds the roots of full level-0 tiles.
      const level1 = await l.ledger.tile(1, 0, Math.floor(size / 256));
      assert.equal(level1?.length, Math.floor(size / 256) * 32);
    });

    test('exportArchive() of a tree past a full level-1 tile verifies offline with only the key', async () => {
      const other = await makeEngine();
      const big = await openLedger(other);
      const dir = await mkdtemp(join(tmpdir(), 'fixity-ledger-big-'));
      try {
        const total = 256 * 256 + 300;
        for (let at = 0; at < total; at += 8192) {
          await big.ledger.append(
            Array.from({ length: Math.min(8192, total - at) }, (_, i) => entryFor(at + i, 'big')),
          );
        }
        const file = join(dir, 'ledger.tar');
        await pipeline(big.ledger.exportArchive({ publicKeyPem: big.signer.publicKeyPem }), createWriteStream(file));
        const report = await verifyLedgerArchive(file, big.signer.publicKeyPem);
        assert.equal(report.ok, true, JSON.stringify(report.problems));
        assert.equal(report.size, total);
        assert.equal(report.latest?.rootHash, (await big.ledger.checkpoint()).root.toString('base64'));
        assert.equal((await big.ledger.tile(2, 0, 1))?.length, 32);
      } finally {
        await big.close();
        await other.cleanup();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('feedEvents() turns registry events into leaves once, in order, across restarts', async () => {
      const clock = createManualClock('2025-02-01T00:00:00Z');
      const push = (n: number) =>
        appendEvent(l.store.db, l.store.dialect, {
          kind: 'manifest.push',
          actor: 'alice',
          at: clock.now().toISOString(),
          repo: 'library/feed',
          digest: digestFor(n, 'event'),
          tag: `v${n}`,
          detail: { n },
        });
      for (let n = 0; n < 5; n++) await push(n);
      const first = await l.ledger.feedEvents();
      assert.equal(first.appended, 5);
      assert.equal((await l.ledger.feedEvents()).appended, 0);
      const found = await l.ledger.findByDigest(digestFor(3, 'event'));
      assert.equal(found.length, 1);
      const leaf = JSON.parse((await l.ledger.entry(found[0]!))!.body.toString('utf8'));
      assert.equal(leaf.event, 'manifest.push');
      assert.equal(leaf.actor, 'alice');
      assert.equal(leaf.tag, 'v3');
      assert.deepEqual(leaf.digests, [digestFor(3, 'event')]);
      assert.deepEqual(leaf.detail, { n: 3 });
      // A restart (a new ledger on the same data) continues after the last fed event.
      for (let n = 5; n < 8; n++) await push(n);
      const again = await l.reopen();
      try {
        const [, fed] = await Promise.all([
          again.ledger.append([entryFor(1, 'beside-feed')]),
          again.ledger.feedEvents(),
        ]);
        assert.equal(fed.appended, 3);
        for (let n = 0; n < 8; n++) assert.equal((await again.ledger.findByDigest(digestFor(n, 'event'))).length, 1);
        const seqs = [];
        for (let n = 0; n < 8; n++) {
          const [i] = await again.ledger.findByDigest(digestFor(n, 'event'));
          seqs.push(JSON.parse((await again.ledger.entry(i!))!.body.toString('utf8')).seq);
        }
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
        );
      } finally {
        await again.close();
      }
      // The first ledger's state is stale now; its next batch reloads and carries on.
      await l.ledger.append([entryFor(2, 'after-restart')]);
      assert.equal((await l.ledger.feedEvents()).appended, 0);
      assert.equal((await l.ledger.verify()).ok, true);
    });

    test('close() while appends stream leaves only checkpoints that match their leaves', async () => {
      const other = await makeEngine();
      const first = await openLedger(other, { batch: { maxEntries: 50 } });
      let acknowledged = 0;
      const streams = Array.from({ length: 8 }, async (_, s) => {
        for (let n = 0; ; n++) {
          try {
            const appended = await first.ledger.append([entryFor(s * 10_000 + n, 'close')]);
            acknowledged += appended.length;
          } catch (err) {
            if (isErrorWithCode(err, 'CLOSED')) return;
            throw err;
          }
        }
      });
      while (acknowledged < 200) await new Promise((r) => setTimeout(r, 5));
      await first.ledger.close();
      await Promise.all(streams);
      await first.store.close();
      const reopened = await first.reopen();
      try {
        const report = await reopened.ledger.verify();
        assert.equal(report.ok, true, JSON.stringify(report.problems));
        assert.equal(report.size, acknowledged, 'every acknowledged entry, and nothing else');
      } finally {
        await reopened.close();
        await other.cleanup();
      }
    });

    test('a process killed (SIGKILL) mid-stream leaves every acknowledged entry under a matching checkpoint', async () => {
      const other = await makeEngine();
      const signer = testSigner();
      const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
        env: {
          ...process.env,
          LEDGER_URL: other.url,
          LEDGER_SCHEMA: other.schema ?? '',
          LEDGER_KEY: signer.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let acknowledged = 0;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line !== '') acknowledged = Math.max(acknowledged, Number(line));
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      while (acknowledged < 3000) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await exited;
      const reopened = await openLedger(other, {}, signer);
      try {
        const report = await reopened.ledger.verify();
        assert.equal(report.ok, true, JSON.stringify(report.problems));
        assert.ok(report.size >= acknowledged, `${report.size} leaves, ${acknowledged} acknowledged`);
        // And the sequencer picks up where the killed one stopped.
        await reopened.ledger.append([entryFor(1, 'after-kill')]);
        assert.equal((await reopened.ledger.verify()).ok, true);
      } finally {
        await reopened.close();
        await other.cleanup();
      }
    });

    // Two SQLite connections in one thread would wait on each other's write lock; two servers on one SQLite
    // file are prevented by the data directory's lock anyway. So this one is PostgreSQL's.
    if (engineName === 'postgres') {
      test('two ledgers sequencing one PostgreSQL interleave their batches: no fork, no lost append', async () => {
        const other = await makeEngine();
        const a = await openLedger(other, { batch: { maxEntries: 20 } });
        const b = await a.reopen();
        try {
          // Callers that keep appending on both sides, so batches keep colliding.
          const streams = Array.from({ length: 16 }, async (_, s) => {
            const indices: number[] = [];
            for (let n = 0; n < 25; n++) {
              const appended = await (s % 2 === 0 ? a : b).ledger.append([entryFor(s * 100 + n, 'two')]);
              indices.push(...appended.map((r) => r.index));
            }
            return indices;
          });
          const indices = (await Promise.all(streams)).flat().sort((x, y) => x - y);
          assert.deepEqual(
            indices,
            Array.from({ length: 400 }, (_, i) => i),
          );
          const report = await a.ledger.verify();
          assert.equal(report.ok, true, JSON.stringify(report.problems));
          assert.equal(report.size, 400);
        } finally {
          await a.close();
          await b.close();
          await other.cleanup();
        }
      });
    }

    test('a ledger with another key refuses to extend a tree whose checkpoints it cannot verify', async () => {
      const stranger = await createLedger({
        database: l.store,
        signer: (await import('./ledger-kit.ts')).testSigner(),
        origin: ORIGIN,
        clock: createManualClock(0),
      });
      await assert.rejects(stranger.append([entryFor(1, 'stranger')]), hasCode('STATE_INVALID'));
      await stranger.close();
    });
  });
}
