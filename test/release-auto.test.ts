// Automatic promotion and the races around a promotion, on every engine: a chain to staging, holds, two
// promotions into one stage at once, a pipeline or veto changed mid-evaluation, and a ledger failure repaired.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../src/core/index.ts';
import { compilePolicy } from '../src/policy/index.ts';
import {
  AUTO_ACTOR,
  type AutoOutcome,
  createReleaseService,
  type PromoteResult,
  ReleaseError,
  type ReleaseService,
} from '../src/release/index.ts';
import type { RegistryMetadata } from '../src/store/index.ts';
import { openReleaseKit, type ReleaseKit } from './release-kit.ts';
import { testDatabases } from './support/databases.ts';

const REPO = 'shop/auto';
const PIPELINE = `
stages:
  - name: build
  - name: test
    from: [build]
    auto: true
    gates:
      - name: signed
        expression: "signatures.exists(s, s.verified && s.role == 'signer')"
  - name: staging
    from: [test]
    auto: true
  - name: production
    from: [staging]
`;
const hasCode = (code: string) => (e: unknown) => e instanceof ReleaseError && e.code === code;
const promotedInto = (outcomes: AutoOutcome[], digest: Digest) =>
  outcomes
    .filter((o) => o.digest === digest && o.kind === 'result' && o.result.kind === 'promoted')
    .map((o) => o.stage);
const messageOf = (r: PromoteResult) => (r.kind === 'conflict' ? r.message : JSON.stringify(r));

for (const makeEngine of await testDatabases()) {
  const engine = await makeEngine();
  describe(`release auto-promotion and races (${engine.name})`, () => {
    let kit: ReleaseKit;
    const manual = (digest: Digest, stage: string, release: ReleaseService = kit.release) =>
      release.promote({ repository: REPO, digest, stage, actor: 'erin', trigger: 'manual' });
    const signedInBuild = async () => {
      const d = await kit.pushImage(REPO);
      await kit.sign(REPO, d);
      assert.equal((await manual(d, 'build')).kind, 'promoted');
      return d;
    };
    // A service whose evaluations run `hook` when they read the image's referrers (mid-evaluation).
    const withHook = (hook: () => Promise<void>) => {
      const metadata: RegistryMetadata = {
        ...kit.metadata,
        listReferrers: async (...args) => {
          await hook();
          return kit.metadata.listReferrers(...args);
        },
      };
      return createReleaseService({ ...kit.deps, metadata });
    };
    // Holds the first `n` evaluations until all of them have read the stage's state; later ones pass.
    const barrier = (n: number) => {
      let arrived = 0;
      const waiting: Array<() => void> = [];
      return () =>
        new Promise<void>((resolve) => {
          arrived += 1;
          if (arrived > n) return resolve();
          waiting.push(resolve);
          if (arrived === n) for (const go of waiting.splice(0)) go();
        });
    };

    before(async () => {
      kit = await openReleaseKit(engine);
      await kit.release.applyPipeline(PIPELINE, { actor: 'root', admin: true });
    });
    after(async () => kit?.close());

    test('runAutoPromotions() carries a signed digest through test to staging, never into a manual stage', async () => {
      const d = await signedInBuild();
      const unsigned = await kit.pushImage(REPO);
      assert.equal((await manual(unsigned, 'build')).kind, 'promoted');
      const outcomes = await kit.release.runAutoPromotions();
      assert.deepEqual(promotedInto(outcomes, d), ['test', 'staging']);
      const refusal = outcomes.find((o) => o.digest === unsigned);
      assert.equal(refusal?.kind === 'result' && refusal.result.kind, 'refused');
      assert.deepEqual(
        (await kit.release.promotions({ digest: d })).map((p) => [p.stage, p.trigger, p.actor, p.vsa !== null]),
        [
          ['build', 'manual', 'erin', true],
          ['test', 'auto', AUTO_ACTOR, true],
          ['staging', 'auto', AUTO_ACTOR, true],
        ],
      );
      // Idempotent, also when runs overlap: nothing is promoted twice.
      const again = await Promise.all([kit.release.runAutoPromotions(), kit.release.runAutoPromotions()]);
      assert.deepEqual(
        again.flat().filter((o) => o.kind === 'result' && o.result.kind === 'promoted'),
        [],
      );
      assert.equal((await kit.release.promotions({ digest: d })).length, 3);
    });

    test('a hold stops automatic promotion into its stage; a person can still promote; unhold lets it resume', async () => {
      const held = await kit.release.hold({ stage: 'staging', actor: 'sre', reason: 'rolled back 1.4' });
      assert.deepEqual([held.changed, typeof held.logIndex], [true, 'number']);
      assert.equal((await kit.release.hold({ stage: 'staging', actor: 'x', reason: 'y' })).changed, false);
      assert.deepEqual(
        (await kit.release.holds()).map((h) => [h.stage, h.by, h.reason]),
        [['staging', 'sre', 'rolled back 1.4']],
      );
      const d = await signedInBuild();
      const e = await signedInBuild();
      const outcomes = await kit.release.runAutoPromotions();
      assert.deepEqual(promotedInto(outcomes, d), ['test']);
      assert.deepEqual(promotedInto(outcomes, e), ['test']);
      assert.ok(!outcomes.some((o) => o.stage === 'staging'), 'a held stage is not even tried');
      // Asked directly, the one evaluator refuses an automatic promotion into a held or manual-only stage.
      const auto = (stage: string) =>
        kit.release.promote({ repository: REPO, digest: d, stage, actor: AUTO_ACTOR, trigger: 'auto' });
      const heldStep = await auto('staging');
      assert.equal(heldStep.kind, 'refused');
      assert.deepEqual(
        heldStep.kind === 'refused' && heldStep.decision.steps.filter((s) => !s.passed).map((s) => [s.name, s.detail]),
        [['hold', `held by sre at ${kit.clock.now().toISOString()}: rolled back 1.4`]],
      );
      const byHand = await manual(e, 'staging');
      assert.equal(byHand.kind, 'promoted');
      const hold = byHand.kind === 'promoted' ? byHand.decision.steps.find((s) => s.kind === 'hold') : undefined;
      assert.match(hold?.detail ?? '', /held by sre .*a hold stops only automatic promotion/);
      const released = await kit.release.unhold({ stage: 'staging', actor: 'sre' });
      assert.equal(released.changed, true);
      await assert.rejects(kit.release.unhold({ stage: 'staging', actor: 'sre' }), hasCode('NOT_HELD'));
      await assert.rejects(kit.release.hold({ stage: 'qa', actor: 'sre', reason: '' }), hasCode('STAGE_UNKNOWN'));
      assert.deepEqual(promotedInto(await kit.release.runAutoPromotions(), d), ['staging']);
      const manualOnly = await auto('production');
      assert.deepEqual(
        manualOnly.kind === 'refused' && manualOnly.decision.steps.filter((s) => !s.passed).map((s) => s.detail),
        ['automatic promotion into production is not enabled'],
      );
      const leaf = JSON.parse((await kit.ledger.entry(held.logIndex!))!.body.toString());
      assert.deepEqual(
        { ...leaf, time: undefined },
        {
          event: 'hold',
          actor: 'sre',
          time: undefined,
          digests: [],
          stage: 'staging',
          reason: 'rolled back 1.4',
        },
      );
    });

    test('two concurrent promotions of different digests into one stage: exactly one wins, the other conflicts', async () => {
      const release = withHook(barrier(2));
      const [a, b] = [await kit.pushImage(REPO), await kit.pushImage(REPO)];
      const results = await Promise.all([manual(a, 'build', release), manual(b, 'build', release)]);
      assert.deepEqual(results.map((r) => r.kind).sort(), ['conflict', 'promoted']);
      const winner = results[0]!.kind === 'promoted' ? a : b;
      const loser = winner === a ? b : a;
      const conflict = results.find((r) => r.kind === 'conflict')!;
      assert.match(
        messageOf(conflict),
        new RegExp(`${winner} \\(by erin\\) was promoted into it during the evaluation`),
      );
      assert.deepEqual(await kit.release.promotions({ digest: loser }), [], 'the loser left no trace');
      assert.equal((await manual(loser, 'build')).kind, 'promoted', 'evaluated again, it goes through');
      // The same digest twice at once: one promotion, and the other learns it is there already.
      const c = await kit.pushImage(REPO);
      const both = withHook(barrier(2));
      const twice = await Promise.all([manual(c, 'build', both), manual(c, 'build', both)]);
      assert.deepEqual(twice.map((r) => r.kind).sort(), ['conflict', 'promoted']);
      assert.match(messageOf(twice.find((r) => r.kind === 'conflict')!), /it was promoted there by erin/);
      assert.equal((await kit.release.promotions({ digest: c })).length, 1);
    });

    test('a veto or hold that lands between the decision and the claim wins over it', async () => {
      const d = await signedInBuild();
      // Signing the VSA is the last step between the decision and the claim.
      const signingHook = (hook: () => Promise<void>) =>
        createReleaseService({
          ...kit.deps,
          signer: {
            ...kit.ledgerSigner,
            sign: async (data: Uint8Array) => {
              await hook();
              return kit.ledgerSigner.sign(data);
            },
          },
        });
      let vetoed = false;
      const vetoing = signingHook(async () => {
        if (vetoed) return;
        vetoed = true;
        await kit.release.veto({ digest: d, reason: 'bad build', actor: 'sec' });
      });
      const lost = await manual(d, 'test', vetoing);
      assert.equal(lost.kind, 'conflict');
      assert.match(messageOf(lost), /was vetoed by sec during the evaluation: bad build/);
      assert.deepEqual(await kit.release.promotions({ digest: d, stage: 'test' }), []);
      await kit.release.liftVeto({ digest: d, actor: 'root', admin: true });
      assert.equal((await manual(d, 'test')).kind, 'promoted');
      let held = false;
      const holding = signingHook(async () => {
        if (held) return;
        held = true;
        await kit.release.hold({ stage: 'staging', actor: 'sre', reason: 'incident' });
      });
      const auto = await holding.promote({
        repository: REPO,
        digest: d,
        stage: 'staging',
        actor: AUTO_ACTOR,
        trigger: 'auto',
      });
      assert.match(messageOf(auto), /staging was held by sre during the evaluation: incident/);
      await kit.release.unhold({ stage: 'staging', actor: 'sre' });
    });

    test('a promotion whose ledger append fails is recorded as incomplete and finished by repair()', async () => {
      let fail = true;
      const ledger = {
        ...kit.ledger,
        append: async (entries: Parameters<typeof kit.ledger.append>[0]) => {
          if (fail) {
            fail = false;
            throw new Error('disk full');
          }
          return kit.ledger.append(entries);
        },
      };
      const release = createReleaseService({ ...kit.deps, ledger });
      const d = await kit.pushImage(REPO);
      const r = await manual(d, 'build', release);
      assert.equal(r.kind, 'incomplete');
      assert.deepEqual(r.kind === 'incomplete' && r.steps, [
        { name: 'ledger', ok: false, detail: 'not in the ledger yet: disk full' },
      ]);
      assert.equal((await kit.release.promotions({ digest: d }))[0]?.vsa, null, 'promoted, evidence pending');
      const repaired = await release.repair();
      const mine = repaired.find((x) => x.promotion.digest === d);
      assert.deepEqual(
        mine?.steps.map((s) => s.ok),
        [true, true, true],
      );
      const [promotion] = await kit.release.promotions({ digest: d });
      assert.equal(promotion?.vsa?.referrer, mine?.vsa?.referrer);
      const leaves = await Promise.all((await kit.ledger.findByDigest(d)).map((i) => kit.ledger.entry(i)));
      const promotions = leaves.map((l) => JSON.parse(l!.body.toString())).filter((b) => b.event === 'promotion');
      assert.equal(promotions.length, 1, 'logged exactly once');
      assert.deepEqual(await release.repair(), []);
    });

    test('a pipeline applied during an evaluation does not change that evaluation', async () => {
      const before = (await kit.release.pipeline())!;
      const stricter = PIPELINE.replace(
        '  - name: build\n',
        '  - name: build\n    gates: [{name: never, expression: "false"}]\n',
      );
      let applied = false;
      const release = withHook(async () => {
        if (applied) return;
        applied = true;
        await kit.release.applyPipeline(stricter, { actor: 'root', admin: true });
      });
      const d = await kit.pushImage(REPO);
      const r = await manual(d, 'build', release);
      assert.equal(r.kind, 'promoted', JSON.stringify(r));
      if (r.kind !== 'promoted') return;
      assert.equal((await kit.release.pipeline())!.version, before.version + 1, 'the edit landed mid-evaluation');
      assert.deepEqual([r.promotion.pipelineVersion, r.promotion.pipelineDigest], [before.version, before.digest]);
      assert.equal(r.decision.policyDigest, compilePolicy([]).digest);
      assert.ok(!r.decision.steps.some((s) => s.kind === 'gate'));
      const vsa = JSON.parse(Buffer.from(r.vsa.bundle.dsseEnvelope!.payload, 'base64').toString());
      assert.equal(vsa.predicate.policy.uri, `fixity:pipeline/${before.version}#build`);
      const next = await manual(await kit.pushImage(REPO), 'build');
      assert.equal(next.kind, 'refused', 'the next evaluation uses the new version');
    });
  });
}
