// Rewriting history behind the ledger's back, as someone with SQL access (or the export file) would: every
// change is caught, and the report names the exact leaf index, tile or checkpoint size.
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { extract, pack } from 'tar-stream';
import { decodeEntryBundle, encodeEntryBundle, leafHash, signCheckpoint } from '../src/ledger/pure.ts';
import { type LedgerProblem, type LedgerReport, verifyLedgerArchive } from '../src/ledger/storage.ts';
import { dropLedgerGuards, entryFor, type OpenLedger, ORIGIN, openLedger } from './ledger-kit.ts';
import { testDatabases } from './support/databases.ts';

// Checkpoints at these sizes: three level-0 tiles (the last partial) and a partial level-1 tile.
const BATCHES = [100, 200, 300, 100];
const SIZES = [0, 100, 300, 600, 700];

async function buildLedger(l: OpenLedger): Promise<void> {
  let n = 0;
  for (const count of BATCHES) {
    await l.ledger.append(Array.from({ length: count }, () => entryFor(n++, 'tamper')));
  }
}

const kinds = (r: LedgerReport) => r.problems.map((p) => p.kind);
function problem(r: LedgerReport, kind: LedgerProblem['kind']): LedgerProblem {
  const found = r.problems.find((p) => p.kind === kind);
  assert.ok(found, `expected a ${kind} problem, got ${JSON.stringify(r.problems)}`);
  return found;
}
const flip = (bytes: Uint8Array, at: number): Buffer => {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
};

for (const makeEngine of await testDatabases()) {
  describe(`ledger tamper detection (${makeEngine.name.replace('Database', '')})`, () => {
    /** A fresh ledger with its guards dropped, changed by `change`, then verified. */
    async function verifyAfter(change: (l: OpenLedger) => Promise<void>): Promise<LedgerReport> {
      const engine = await makeEngine();
      const l = await openLedger(engine);
      try {
        await buildLedger(l);
        await dropLedgerGuards(l.store);
        await change(l);
        return await l.ledger.verify();
      } finally {
        await l.close();
        await engine.cleanup();
      }
    }
    const db = (l: OpenLedger) => l.store.db;
    const body = async (l: OpenLedger, index: number) => (await l.ledger.entry(index))!.body;
    const tileRow = async (l: OpenLedger, level: number, index: number) => {
      const { rows } = await sql<{ hashes: Uint8Array; interior: Uint8Array }>`
        select hashes, interior from ledger_tiles where level = ${level} and idx = ${index}`.execute(db(l));
      return rows[0]!;
    };

    test('an untouched ledger verifies', async () => {
      const report = await verifyAfter(async () => {});
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.size, 700);
      assert.equal(report.checkpoints, SIZES.length);
      assert.equal(report.firstBadIndex, undefined);
    });

    test('an altered leaf is named by its index', async () => {
      const report = await verifyAfter(async (l) => {
        const changed = Buffer.from((await body(l, 417)).toString('utf8').replace('alice', 'mallory'));
        await sql`update ledger_leaves set body = ${changed} where idx = 417`.execute(db(l));
      });
      assert.equal(report.ok, false);
      assert.equal(problem(report, 'leaf-altered').index, 417);
      assert.equal(report.firstBadIndex, 417);
      assert.ok(!kinds(report).includes('tile-altered'), 'the tiles were not touched');
    });

    test('a deleted leaf is named by its index', async () => {
      const report = await verifyAfter(async (l) => {
        await sql`delete from ledger_leaves where idx = 250`.execute(db(l));
      });
      assert.equal(problem(report, 'leaf-missing').index, 250);
      assert.equal(report.firstBadIndex, 250);
      assert.equal(report.problemCount, 1);
    });

    test('a leaf inserted into history (later rows shifted up) is named by its index', async () => {
      const report = await verifyAfter(async (l) => {
        await sql`update ledger_leaves set idx = idx + 1000000 where idx >= 123`.execute(db(l));
        await sql`update ledger_leaves set idx = idx - 999999 where idx >= 1000000`.execute(db(l));
        await sql`insert into ledger_leaves (idx, body) values (123, ${Buffer.from(entryFor(9999, 'forged').body)})`.execute(
          db(l),
        );
      });
      assert.equal(problem(report, 'leaf-altered').index, 123);
      assert.equal(problem(report, 'leaf-extra').index, 700);
      assert.equal(report.firstBadIndex, 123);
    });

    test('two reordered leaves are both named, the first as firstBadIndex', async () => {
      const report = await verifyAfter(async (l) => {
        const [a, b] = [await body(l, 310), await body(l, 530)];
        await sql`update ledger_leaves set body = ${b} where idx = 310`.execute(db(l));
        await sql`update ledger_leaves set body = ${a} where idx = 530`.execute(db(l));
      });
      const altered = report.problems.filter((p) => p.kind === 'leaf-altered').map((p) => p.index);
      assert.deepEqual(altered, [310, 530]);
      assert.equal(report.firstBadIndex, 310);
    });

    test('a leaf appended past the signed tree is extra', async () => {
      const report = await verifyAfter(async (l) => {
        await sql`insert into ledger_leaves (idx, body) values (700, ${Buffer.from(entryFor(1, 'extra').body)})`.execute(
          db(l),
        );
      });
      assert.deepEqual(kinds(report), ['leaf-extra']);
      assert.equal(report.firstBadIndex, 700);
    });

    test('a changed hash in a level-0 tile is the tile, not the leaf', async () => {
      const report = await verifyAfter(async (l) => {
        const tile = await tileRow(l, 0, 1);
        await sql`update ledger_tiles set hashes = ${flip(tile.hashes, 5 * 32)} where level = 0 and idx = 1`.execute(
          db(l),
        );
      });
      const p = problem(report, 'tile-altered');
      assert.equal(p.index, 256 + 5);
      assert.equal(p.level, 0);
      assert.ok(!kinds(report).includes('leaf-altered'));
    });

    test('a changed interior node or level-1 hash is a tile problem naming the leaves it covers', async () => {
      const interior = await verifyAfter(async (l) => {
        const tile = await tileRow(l, 0, 0);
        await sql`update ledger_tiles set interior = ${flip(tile.interior, 3 * 32)} where level = 0 and idx = 0`.execute(
          db(l),
        );
      });
      // Interior hash 3 of tile 0/0 is the level-1 node over leaves 6 and 7.
      assert.deepEqual(kinds(interior), ['tile-altered']);
      assert.equal(interior.firstBadIndex, 6);
      const level1 = await verifyAfter(async (l) => {
        const tile = await tileRow(l, 1, 0);
        await sql`update ledger_tiles set hashes = ${flip(tile.hashes, 32)} where level = 1 and idx = 0`.execute(db(l));
      });
      const p = problem(level1, 'tile-altered');
      assert.equal(p.level, 1);
      assert.equal(p.index, 256, 'the second level-8 node covers leaves 256..511');
    });

    test('a deleted tile is missing', async () => {
      const report = await verifyAfter(async (l) => {
        await sql`delete from ledger_tiles where level = 0 and idx = 1`.execute(db(l));
      });
      const p = problem(report, 'tile-missing');
      assert.equal(p.index, 256);
    });

    test('an altered checkpoint signature, or root column, is named by its size', async () => {
      const signature = await verifyAfter(async (l) => {
        const { rows } = await sql<{ note: string }>`select note from ledger_checkpoints where size = 300`.execute(
          db(l),
        );
        const note = rows[0]!.note.replace(
          / (\S)(\S+)\n$/,
          (_, c: string, rest: string) => ` ${c === 'A' ? 'B' : 'A'}${rest}\n`,
        );
        await sql`update ledger_checkpoints set note = ${note} where size = 300`.execute(db(l));
      });
      assert.deepEqual(kinds(signature), ['checkpoint-signature']);
      assert.equal(signature.problems[0]!.size, 300);
      const root = await verifyAfter(async (l) => {
        await sql`update ledger_checkpoints set root = ${Buffer.alloc(32, 1)} where size = 600`.execute(db(l));
      });
      assert.deepEqual(kinds(root), ['checkpoint-root']);
      assert.equal(root.problems[0]!.size, 600);
    });

    test('a deleted checkpoint, in the middle or the latest, is named by its size', async () => {
      const middle = await verifyAfter(async (l) => {
        await sql`delete from ledger_checkpoints where size = 300`.execute(db(l));
      });
      assert.deepEqual(kinds(middle), ['checkpoint-missing']);
      assert.equal(middle.problems[0]!.size, 300);
      const latest = await verifyAfter(async (l) => {
        await sql`delete from ledger_checkpoints where size = 700`.execute(db(l));
      });
      assert.deepEqual(kinds(latest), ['checkpoint-missing']);
      assert.equal(latest.problems[0]!.size, 700);
    });

    test('a forged fork (another validly signed root at an old size) is named by its size', async () => {
      const report = await verifyAfter(async (l) => {
        const root = Buffer.alloc(32, 9);
        const note = await signCheckpoint({ size: 300, root }, l.signer, ORIGIN);
        await sql`update ledger_checkpoints set root = ${root}, note = ${note} where size = 300`.execute(db(l));
      });
      assert.deepEqual(kinds(report), ['fork']);
      assert.equal(report.problems[0]!.size, 300);
    });

    test('a leaf rewritten together with its tile hash still fails the signed checkpoints', async () => {
      const report = await verifyAfter(async (l) => {
        const forged = Buffer.from((await body(l, 450)).toString('utf8').replace('alice', 'mallory'));
        await sql`update ledger_leaves set body = ${forged} where idx = 450`.execute(db(l));
        const tile = await tileRow(l, 0, 1);
        const hashes = Buffer.from(tile.hashes);
        leafHash(forged).copy(hashes, (450 - 256) * 32);
        await sql`update ledger_tiles set hashes = ${hashes} where level = 0 and idx = 1`.execute(db(l));
      });
      assert.equal(report.ok, false);
      assert.equal(problem(report, 'checkpoint-root').size, 600, 'the first checkpoint after the change');
      assert.ok((report.firstBadIndex ?? 0) <= 450);
    });

    test('verify({ previous }) reports a fork when the tree head a client saw is gone', async () => {
      const engine = await makeEngine();
      const l = await openLedger(engine);
      try {
        await buildLedger(l);
        const seen = await l.ledger.inclusionProof(0, 300);
        assert.equal((await l.ledger.verify({ previous: seen.checkpoint })).ok, true);
        const forged = await signCheckpoint({ size: 300, root: Buffer.alloc(32, 3) }, l.signer, ORIGIN);
        const report = await l.ledger.verify({ previous: forged });
        assert.deepEqual(kinds(report), ['fork']);
        assert.equal(report.problems[0]!.size, 300);
      } finally {
        await l.close();
        await engine.cleanup();
      }
    });

    describe('the export archive', () => {
      let dir: string;
      let file: string;
      let key: string;
      let signer: OpenLedger['signer'];

      before(async () => {
        dir = await mkdtemp(join(tmpdir(), 'fixity-ledger-archive-'));
        file = join(dir, 'ledger.tar');
        const engine = await makeEngine();
        const l = await openLedger(engine);
        try {
          await buildLedger(l);
          key = l.signer.publicKeyPem;
          signer = l.signer;
          await pipeline(l.ledger.exportArchive({ publicKeyPem: key }), createWriteStream(file));
        } finally {
          await l.close();
          await engine.cleanup();
        }
      });
      after(() => rm(dir, { recursive: true, force: true }));

      type Member = { name: string; data: Buffer; pax?: Record<string, string> };
      async function members(): Promise<Member[]> {
        const out: Member[] = [];
        const tar = extract();
        const done = (async () => {
          for await (const entry of tar) {
            const chunks: Buffer[] = [];
            for await (const c of entry) chunks.push(c as Buffer);
            const pax = entry.header.pax as Record<string, string> | undefined;
            out.push({ name: entry.header.name, data: Buffer.concat(chunks), ...(pax ? { pax } : {}) });
          }
        })();
        tar.end(await readFile(file));
        await done;
        return out;
      }
      /** The archive with `change` applied to its members, verified. */
      async function verifyTampered(change: (m: Member[]) => Member[] | Promise<Member[]>, pem = key) {
        const out = pack();
        const target = join(dir, `tampered-${Math.random().toString(36).slice(2)}.tar`);
        const written = pipeline(out, createWriteStream(target));
        for (const m of await change(await members()))
          out.entry({ name: m.name, ...(m.pax ? { pax: m.pax } : {}) }, m.data);
        out.finalize();
        await written;
        return verifyLedgerArchive(target, pem);
      }
      const edit = (name: string, fn: (data: Buffer) => Buffer) => (ms: Member[]) =>
        ms.map((m) => (m.name === name ? { ...m, data: fn(m.data) } : m));

      test('verifyLedgerArchive() accepts the untouched export, every checkpoint checked', async () => {
        const report = await verifyLedgerArchive(file, key);
        assert.equal(report.ok, true, JSON.stringify(report.problems));
        assert.equal(report.size, 700);
        assert.equal(report.checkpoints, SIZES.length);
        const names = (await members()).map((m) => m.name);
        assert.ok(
          names.includes('tile/0/002.p/188') && names.includes('tile/entries/001') && names.includes('tile/1/000.p/2'),
        );
      });

      test('an altered entry names its index; a removed bundle names its first leaf', async () => {
        const altered = await verifyTampered(
          edit('tile/entries/001', (d) => Buffer.from(d.toString('latin1').replace('"n":266,', '"n":999,'), 'latin1')),
        );
        assert.equal(problem(altered, 'leaf-altered').index, 266);
        assert.equal(altered.firstBadIndex, 266);
        const removed = await verifyTampered((ms) => ms.filter((m) => m.name !== 'tile/entries/001'));
        assert.equal(problem(removed, 'leaf-missing').index, 256);
        assert.equal(removed.firstBadIndex, 256);
      });

      test('reordered entries inside a bundle name the first moved index', async () => {
        const report = await verifyTampered(
          edit('tile/entries/000', (d) => {
            const entries = decodeEntryBundle(d);
            [entries[40], entries[41]] = [entries[41]!, entries[40]!];
            return encodeEntryBundle(entries);
          }),
        );
        assert.deepEqual(
          report.problems.filter((p) => p.kind === 'leaf-altered').map((p) => p.index),
          [40, 41],
        );
      });

      test('an altered tile is the tile; an altered level-1 tile names its level', async () => {
        const level0 = await verifyTampered(edit('tile/0/000', (d) => flip(d, 7 * 32)));
        assert.deepEqual(kinds(level0), ['tile-altered']);
        assert.equal(level0.problems[0]!.index, 7);
        const level1 = await verifyTampered(edit('tile/1/000.p/2', (d) => flip(d, 0)));
        assert.equal(problem(level1, 'tile-altered').level, 1);
      });

      test('a removed or altered checkpoint is named by its size', async () => {
        const removed = await verifyTampered((ms) => ms.filter((m) => m.name !== 'checkpoints/300'));
        assert.deepEqual(kinds(removed), ['checkpoint-missing']);
        assert.equal(removed.problems[0]!.size, 300);
        const altered = await verifyTampered(
          edit('checkpoints/300', (d) => Buffer.from(d.toString().replace('\n300\n', '\n301\n'))),
        );
        assert.equal(problem(altered, 'checkpoint-signature').size, 300);
      });

      test('a second validly signed checkpoint of one size is a fork', async () => {
        const forged = await signCheckpoint({ size: 300, root: Buffer.alloc(32, 5) }, signer, ORIGIN);
        const report = await verifyTampered((ms) => {
          const at = ms.findIndex((m) => m.name === 'checkpoints/300');
          return [...ms.slice(0, at + 1), { name: 'checkpoints/300', data: Buffer.from(forged) }, ...ms.slice(at + 1)];
        });
        assert.ok(kinds(report).includes('fork'));
        assert.equal(problem(report, 'fork').size, 300);
      });

      test('the wrong key fails every signature', async () => {
        const { testSigner } = await import('./ledger-kit.ts');
        const report = await verifyTampered((ms) => ms, testSigner().publicKeyPem);
        assert.equal(report.ok, false);
        assert.ok(kinds(report).includes('checkpoint-signature'));
      });

      test('a replaced latest checkpoint file is caught', async () => {
        const forged = await signCheckpoint({ size: 700, root: Buffer.alloc(32, 6) }, signer, ORIGIN);
        const report = await verifyTampered(edit('checkpoint', () => Buffer.from(forged)));
        assert.equal(report.ok, false);
        assert.equal(problem(report, 'fork').size, 700);
      });
    });
  });
}
