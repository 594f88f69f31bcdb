import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import {
  at,
  D1,
  D2,
  D3,
  ORIGIN,
  P1,
  P2,
  STORY,
  STORY_SIZE,
  type StoryLedger,
  storyLedger,
  X1,
  X2,
} from '../../test/audit-kit.ts';
import { dropLedgerGuards } from '../../test/ledger-kit.ts';
import { type TestDatabase, testDatabases } from '../../test/support/databases.ts';
import { createManualClock } from '../core/index.ts';
import { leafHash, openCheckpoint, verifyInclusion } from '../ledger/index.ts';
import { type AuditReport, buildAuditReport } from './audit-report.ts';

const b64 = (s: string) => Buffer.from(s, 'base64');
const clock = createManualClock(at(10));
const indices = (r: AuditReport, context?: boolean) =>
  r.rows.filter((row) => context === undefined || (row.context === true) === context).map((row) => row.index);

for (const makeEngine of await testDatabases()) {
  describe(`buildAuditReport (${makeEngine.name})`, () => {
    let engine: TestDatabase;
    let l: StoryLedger;
    before(async () => {
      engine = await makeEngine();
      l = await storyLedger(engine);
    });
    after(async () => {
      await l?.close();
      await engine?.cleanup();
    });

    test('buildAuditReport() proves every row of the whole ledger against one signed checkpoint', async () => {
      const key = { publicKey: l.signer.publicKey, origin: ORIGIN };
      const report = await buildAuditReport({ ledger: l.ledger, clock, key });
      assert.equal(report.ok, true, JSON.stringify(report.rows.find((r) => !r.verified)));
      assert.equal(report.generatedAt, at(10).replace('Z', '.000Z'));
      assert.equal(report.checkpoint.size, STORY_SIZE);
      assert.equal(report.checkpoint.signatureChecked, true);
      assert.equal(report.checkpoint.leavesMatchRoot, true);
      assert.deepEqual(indices(report), [...Array(STORY_SIZE).keys()]);
      assert.deepEqual(report.counts, {
        scanned: STORY_SIZE,
        matched: STORY_SIZE,
        omitted: 0,
        rows: STORY_SIZE,
        failed: 0,
      });
      // Independently of the report's own verdict: each row's leaf, proof and the signed checkpoint agree.
      const cp = openCheckpoint(report.checkpoint.note, l.signer.publicKey, ORIGIN);
      for (const row of report.rows) {
        const p = row.inclusionProof;
        assert.equal(p.treeSize, cp.size);
        assert.equal(p.rootHash, cp.root.toString('base64'));
        assert.equal(leafHash(b64(row.leaf)).toString('hex'), row.leafHash);
        assert.ok(verifyInclusion(row.index, p.treeSize, leafHash(b64(row.leaf)), p.hashes.map(b64), cp.root));
      }
    });

    test('buildAuditReport() says who built, signed, approved and promoted each digest, under which pipeline version', async () => {
      const report = await buildAuditReport({ ledger: l.ledger, clock });
      const d1 = report.subjects.find((s) => s.digest === D1)!;
      assert.deepEqual(d1.repositories, ['shop/app']);
      assert.deepEqual(
        d1.built.map((m) => [m.index, m.actor]),
        [
          [STORY.pushD1, 'ci-bot'],
          [STORY.provenanceD1, 'ci-bot'],
        ],
      );
      assert.deepEqual(
        d1.signed.map((m) => m.index),
        [STORY.signD1],
      );
      assert.deepEqual(
        d1.approved.map((m) => [m.actor, m.stage, m.time]),
        [['alice', 'staging', at(6)]],
      );
      assert.deepEqual(
        d1.promoted.map((m) => [m.stage, m.actor, m.version, m.pipelineDigest, m.policyDigest]),
        [
          ['test', 'fixity', '1', P1, X1],
          ['staging', 'bob', '2', P2, X2],
        ],
      );
      assert.equal(d1.verified, true);
      const d2 = report.subjects.find((s) => s.digest === D2)!;
      assert.deepEqual(
        d2.vetoed.map((m) => [m.actor, m.what]),
        [['dave', 'vetoed everywhere: CVE-2025-0001']],
      );
      assert.deepEqual(
        report.policyVersions.map((v) => [v.version, v.pipelineDigest, v.appliedBy, v.index]),
        [
          ['1', P1, 'admin', STORY.pipeline1],
          ['2', P2, 'admin', STORY.pipeline2],
        ],
      );
      const custom = report.rows[STORY.custom]!;
      assert.equal(custom.event, 'custom.thing');
      assert.equal(custom.detail, 'widget=gizmo');
      const staging = report.rows[STORY.promoteD1Staging]!;
      assert.equal(staging.policyDigest, X2);
      assert.equal(staging.pipelineDigest, P2);
      assert.match(staging.detail, /^promoted in shop\/app to staging \(manual\) under pipeline v2, policy sha256:/);
    });

    test('since and until keep the window, plus (as context) who built and signed the digests promoted in it', async () => {
      const report = await buildAuditReport({
        ledger: l.ledger,
        clock,
        since: new Date(at(6, 0)),
        until: new Date(at(6, 23)),
      });
      assert.equal(report.ok, true);
      assert.deepEqual(indices(report, false), [STORY.approveD1Staging, STORY.promoteD1Staging]);
      // D1's push, provenance and signature (days before), and the pipeline version its promotion ran under.
      assert.deepEqual(indices(report, true), [STORY.pushD1, STORY.provenanceD1, STORY.signD1, STORY.pipeline2]);
      assert.equal(report.counts.matched, 2);
      assert.deepEqual(report.filters, { since: '2025-03-06T00:00:00.000Z', until: '2025-03-06T23:00:00.000Z' });
      assert.deepEqual(
        report.subjects.map((s) => s.digest),
        [D1],
      );
    });

    test('a stage keeps its promotions, approvals and holds, and the build and sign events of what was promoted there', async () => {
      const production = await buildAuditReport({ ledger: l.ledger, clock, stage: 'production' });
      assert.deepEqual(indices(production, false), [
        STORY.holdProduction,
        STORY.approveD3Production,
        STORY.promoteD3Production,
      ]);
      assert.deepEqual(indices(production, true), [STORY.pushD3, STORY.pipeline2]);
      assert.ok(production.rows.every((r) => r.digests[0] !== D1 && r.digests[0] !== D2));
      assert.deepEqual(
        production.subjects.map((s) => [s.digest, s.built.length, s.approved.length, s.promoted.length]),
        [[D3, 1, 1, 1]],
      );
      const staging = await buildAuditReport({ ledger: l.ledger, clock, stage: 'staging' });
      assert.deepEqual(indices(staging, false), [STORY.approveD1Staging, STORY.promoteD1Staging]);
      assert.deepEqual(indices(staging, true), [STORY.pushD1, STORY.provenanceD1, STORY.signD1, STORY.pipeline2]);
      const none = await buildAuditReport({ ledger: l.ledger, clock, stage: 'nowhere' });
      assert.deepEqual(none.rows, []);
      assert.equal(none.ok, true);
    });

    test('a window before anything was promoted still names the pipeline version in force when it opens', async () => {
      const report = await buildAuditReport({
        ledger: l.ledger,
        clock,
        since: new Date(at(4, 0)),
        until: new Date(at(4, 23)),
      });
      assert.equal(report.rows.filter((r) => !r.context).length, 300);
      assert.deepEqual(
        report.policyVersions.map((v) => v.version),
        ['1'],
      );
    });

    test('maxRows cuts the report short and says how much was left out', async () => {
      const report = await buildAuditReport({ ledger: l.ledger, clock, maxRows: 5 });
      assert.deepEqual(indices(report, false), [0, 1, 2, 3, 4]);
      assert.equal(report.counts.omitted, STORY_SIZE - 5);
      assert.equal(report.ok, true);
    });

    test('an aborted signal stops the scan', async () => {
      const abort = new AbortController();
      abort.abort();
      await assert.rejects(buildAuditReport({ ledger: l.ledger, clock, signal: abort.signal }), { name: 'AbortError' });
    });
  });

  describe(`buildAuditReport over a tampered ledger (${makeEngine.name})`, () => {
    let engine: TestDatabase;
    let l: StoryLedger;
    before(async () => {
      engine = await makeEngine();
      l = await storyLedger(engine);
      await dropLedgerGuards(l.store);
      const rewrite = async (index: number, from: string, to: string) => {
        const body = Buffer.from((await l.ledger.entry(index))!.body.toString('utf8').replace(from, to));
        await sql`update ledger_leaves set body = ${body} where idx = ${index}`.execute(l.store.db);
      };
      // Someone with SQL access takes credit for an approval, and moves a push out of every window.
      await rewrite(STORY.approveD1Staging, '"actor":"alice"', '"actor":"mallory"');
      await rewrite(500, '"time":"2025-03-09', '"time":"2031-03-09');
      await sql`delete from ledger_leaves where idx = 600`.execute(l.store.db);
    });
    after(async () => {
      await l?.close();
      await engine?.cleanup();
    });

    test('a rewritten leaf is flagged with what it now says, and the report does not verify', async () => {
      const report = await buildAuditReport({ ledger: l.ledger, clock, stage: 'staging' });
      assert.equal(report.ok, false);
      assert.equal(report.checkpoint.leavesMatchRoot, false);
      assert.match(report.checkpoint.problem!, /do not hash to the checkpoint root/);
      const approval = report.rows.find((r) => r.index === STORY.approveD1Staging)!;
      assert.equal(approval.actor, 'mallory');
      assert.equal(approval.verified, false);
      assert.match(approval.problem!, /altered/);
      assert.deepEqual(report.subjects.find((s) => s.digest === D1)?.approved[0]?.verified, false);
      assert.equal(report.subjects.find((s) => s.digest === D1)?.verified, false);
    });

    test('altered and deleted leaves outside the filters are still in the report, flagged', async () => {
      const report = await buildAuditReport({ ledger: l.ledger, clock, stage: 'production' });
      const flagged = report.rows.filter((r) => !r.verified).map((r) => [r.index, r.event]);
      assert.deepEqual(flagged, [
        [STORY.approveD1Staging, 'approval'],
        [500, 'manifest.push'],
        [600, '(missing)'],
      ]);
      assert.equal(report.counts.failed, 3);
      assert.ok(report.rows.filter((r) => r.verified).length >= 3, 'the untouched production rows still verify');
    });

    test('the untouched rows around them still verify', async () => {
      const report = await buildAuditReport({ ledger: l.ledger, clock, stage: 'production' });
      for (const index of [STORY.holdProduction, STORY.approveD3Production, STORY.promoteD3Production]) {
        assert.equal(report.rows.find((r) => r.index === index)?.verified, true, `row ${index}`);
      }
    });
  });
}
