// Promotion through the release service on every engine: each gate kind passing and failing, fan-in, soak,
// approvals (distinct people, not the author, not the promoter), windows with their next opening, veto, the
// status answer, and the VSA referrer: it verifies with the server key and its ledger entry is included.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { type Digest, digestOf, parseDigest } from '../src/core/index.ts';
import { leafHash, openCheckpoint, verifyInclusion } from '../src/ledger/index.ts';
import { COSIGN_VULN, COSIGN_VULN_CLEAN, FIXITY_PROVENANCE } from '../src/policy/test-samples.ts';
import { type PromoteResult, type PromotionDecision, type PromotionStep, ReleaseError } from '../src/release/index.ts';
import { BUNDLE_MEDIA_TYPE, keyIdOf, PREDICATE_TYPES, parseBundle, verifyBundle } from '../src/trust/index.ts';
import { HOUR, openReleaseKit, PIPELINE, REGISTRY_HOST, type ReleaseKit, T0 } from './release-kit.ts';
import { testDatabases } from './support/databases.ts';

const REPO = 'shop/app';
const step = (decision: PromotionDecision, kind: PromotionStep['kind'], name?: string): PromotionStep => {
  const found = decision.steps.find((s) => s.kind === kind && (name === undefined || s.name === name));
  assert.ok(found, `no ${kind} step in ${JSON.stringify(decision.steps)}`);
  return found;
};
const failing = (decision: PromotionDecision) => decision.steps.filter((s) => !s.passed).map((s) => s.name);
const hasCode = (code: string) => (e: unknown) => e instanceof ReleaseError && e.code === code;
function promoted(r: PromoteResult): asserts r is Extract<PromoteResult, { kind: 'promoted' }> {
  assert.equal(r.kind, 'promoted', JSON.stringify(r, null, 1));
}
function refused(r: PromoteResult): PromotionDecision {
  assert.equal(r.kind, 'refused', JSON.stringify(r, null, 1));
  return (r as Extract<PromoteResult, { kind: 'refused' }>).decision;
}

for (const makeEngine of await testDatabases()) {
  const engine = await makeEngine();
  describe(`release promotion (${engine.name})`, () => {
    let kit: ReleaseKit;
    const promote = (digest: Digest, stage: string, actor = 'erin') =>
      kit.release.promote({ repository: REPO, digest, stage, actor, trigger: 'manual' });
    // A signed image with provenance and a clean scan, promoted through build, test and perf, soaked into staging.
    const toStaging = async (): Promise<Digest> => {
      const d = await kit.pushImage(REPO);
      await kit.sign(REPO, d);
      await kit.attest(REPO, d, PREDICATE_TYPES.slsaProvenance, FIXITY_PROVENANCE);
      await kit.attest(REPO, d, PREDICATE_TYPES.cosignVuln, COSIGN_VULN_CLEAN);
      for (const stage of ['build', 'test', 'perf']) promoted(await promote(d, stage));
      kit.clock.advance(HOUR);
      promoted(await promote(d, 'staging'));
      return d;
    };

    before(async () => {
      kit = await openReleaseKit(engine);
      await kit.release.applyPipeline(PIPELINE, { actor: 'alice', admin: false });
    });
    after(async () => kit?.close());

    test('promote() records the promotion and a VSA referrer that verifies with the server key, its entry included', async () => {
      const d = await kit.pushImage(REPO, { tag: '1.0.0' });
      const r = await promote(d, 'build');
      promoted(r);
      const pipeline = (await kit.release.pipeline())!;
      assert.deepEqual(
        { ...r.promotion, id: '' },
        {
          id: '',
          repository: REPO,
          digest: d,
          stage: 'build',
          actor: 'erin',
          trigger: 'manual',
          promotedAt: T0,
          pipelineVersion: 1,
          pipelineDigest: pipeline.digest,
          policyDigest: r.decision.policyDigest,
          reason: null,
          vsa: { referrer: r.vsa.referrer, logIndex: r.vsa.logIndex },
        },
      );
      assert.deepEqual(
        r.steps.map((s) => [s.name, s.ok]),
        [
          ['ledger', true],
          ['referrer', true],
          ['record', true],
        ],
      );
      // The referrer is in this registry, found through the referrers of the image.
      const referrers = await kit.metadata.listReferrers(REPO, d, BUNDLE_MEDIA_TYPE);
      const listed = referrers.find((x) => x.digest === r.vsa.referrer);
      assert.equal(listed?.annotations?.['dev.sigstore.bundle.predicateType'], PREDICATE_TYPES.vsa);
      const manifest = JSON.parse(
        Buffer.from((await kit.metadata.getManifest(REPO, { digest: r.vsa.referrer }))!.content).toString(),
      ) as { layers: Array<{ digest: Digest }>; subject: { digest: string } };
      assert.equal(manifest.subject.digest, d);
      const chunks: Buffer[] = [];
      for await (const c of kit.blobs.read(manifest.layers[0]!.digest)) chunks.push(c as Buffer);
      const bundle = parseBundle(Buffer.concat(chunks));
      // It verifies with the server's key, and says what was verified under which policy.
      const verified = verifyBundle(bundle, {
        keys: (hint) => (hint === kit.ledgerSigner.keyId ? kit.ledgerSigner.publicKey : undefined),
      });
      assert.equal(verified.kind, 'dsse');
      if (verified.kind !== 'dsse') return;
      assert.equal(verified.statement.predicateType, 'https://slsa.dev/verification_summary/v1');
      assert.deepEqual(verified.statement.subject, [
        { name: `${REGISTRY_HOST}/${REPO}`, digest: { sha256: parseDigest(d).hex } },
      ]);
      assert.deepEqual(verified.statement.predicate, {
        verifier: { id: kit.deps.verifierId },
        timeVerified: '2026-03-04T10:00:00Z',
        resourceUri: `oci://${REGISTRY_HOST}/${REPO}@${d}`,
        policy: {
          uri: 'fixity:pipeline/1#build',
          digest: { sha256: parseDigest(r.decision.policyDigest).hex },
          annotations: { pipelineDigest: pipeline.digest },
        },
        inputAttestations: [],
        verificationResult: 'PASSED',
        verifiedLevels: ['FIXITY_STAGE_BUILD'],
      });
      // Its tlog entry is the ledger's leaf at that index, proven against a checkpoint signed by the ledger key.
      const entry = verified.tlogEntries[0]!;
      assert.equal(entry.logIndex, r.vsa.logIndex);
      const leaf = (await kit.ledger.entry(entry.logIndex))!;
      assert.ok(leaf.body.equals(entry.canonicalizedBody));
      const proof = entry.inclusionProof!;
      const checkpoint = openCheckpoint(proof.checkpoint, kit.ledgerSigner.publicKey, 'fixity.test/ledger');
      assert.ok(checkpoint.root.equals(proof.rootHash));
      assert.ok(verifyInclusion(entry.logIndex, proof.treeSize, leafHash(leaf.body), proof.hashes, proof.rootHash));
      const body = JSON.parse(leaf.body.toString()) as Record<string, unknown>;
      assert.deepEqual(
        { ...body, spec: undefined },
        {
          apiVersion: '0.0.1',
          kind: 'dsse',
          spec: undefined,
          event: 'promotion',
          actor: 'erin',
          time: T0.toISOString(),
          digests: [d],
          repository: REPO,
          stage: 'build',
          trigger: 'manual',
          pipelineVersion: 1,
          pipelineDigest: pipeline.digest,
          policyDigest: r.decision.policyDigest,
          promotion: r.promotion.id,
          vsa: digestOf(verified.payload),
          keyId: kit.ledgerSigner.keyId,
        },
      );
      assert.deepEqual(await kit.ledger.findByDigest(d).then((ix) => ix.includes(entry.logIndex)), true);
      // A stock sigstore-js verifier accepts it too, requiring the tlog entry (our ledger as a trusted log).
      const logId = Buffer.from(keyIdOf(kit.ledgerSigner.publicKey), 'hex').toString('base64');
      const root = TrustedRoot.fromJSON({
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [
          {
            baseUrl: 'https://fixity.test/ledger',
            hashAlgorithm: 'SHA2_256',
            publicKey: {
              rawBytes: kit.ledgerSigner.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
              keyDetails: 'PKIX_ECDSA_P256_SHA_256',
              validFor: { start: '2025-01-01T00:00:00Z' },
            },
            logId: { keyId: logId },
          },
        ],
        certificateAuthorities: [],
        ctlogs: [],
        timestampAuthorities: [],
      });
      const material = toTrustMaterial(root, () => ({ publicKey: kit.ledgerSigner.publicKey, validFor: () => true }));
      const entity = toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(bundle))));
      const signer = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
        entity,
      );
      assert.equal(keyIdOf(signer.key), kit.ledgerSigner.keyId);
    });

    test('gatherEvidence() reads tags, annotations, created, verified signatures and attestations, and says what did not count', async () => {
      const d = await kit.pushImage(REPO, { tag: '2.0.0', annotations: { team: 'payments' } });
      await kit.sign(REPO, d);
      const provenance = await kit.attest(REPO, d, PREDICATE_TYPES.slsaProvenance, FIXITY_PROVENANCE);
      // A builder key that signed, then was revoked: what the ledger recorded before still counts.
      const builder = kit.newKey();
      await kit.trust.register({
        name: 'b',
        role: 'builder',
        publicKeyPem: builder.publicKeyPem,
        registeredBy: 'admin',
      });
      await kit.sign(REPO, d, builder);
      // A key revoked (from an hour ago) before it signed: that signature does not count.
      const stolen = kit.newKey();
      await kit.trust.register({
        name: 's',
        role: 'signer',
        publicKeyPem: stolen.publicKeyPem,
        registeredBy: 'admin',
        validFrom: new Date(T0.getTime() - 2 * HOUR),
      });
      await kit.trust.revoke({
        keyId: stolen.signer.keyId,
        reason: 'leaked',
        revokedBy: 'sec',
        at: new Date(T0.getTime() - HOUR),
      });
      const late = await kit.sign(REPO, d, stolen);
      const stranger = await kit.sign(REPO, d, kit.newKey());
      // A bundle with no ledger entry, and one whose tlog entry points at another leaf of the ledger.
      const good = await kit.sign(REPO, d);
      const { tlogEntries, ...rest } = good.bundle.verificationMaterial;
      const unlogged = await kit.attach(REPO, d, {
        ...good.bundle,
        verificationMaterial: { ...rest, tlogEntries: [] },
      });
      const moved = { ...tlogEntries[0]!, logIndex: '0' };
      const elsewhere = await kit.attach(REPO, d, {
        ...good.bundle,
        verificationMaterial: { ...rest, tlogEntries: [moved] },
      });
      kit.clock.advance(60_000);
      await kit.trust.revoke({ keyId: builder.signer.keyId, reason: 'rotated', revokedBy: 'sec' });

      const ev = await kit.release.gatherEvidence(REPO, d);
      assert.deepEqual(ev.artifact, {
        digest: d,
        repository: REPO,
        tags: ['2.0.0'],
        annotations: { team: 'payments' },
        created: '2026-03-01T12:00:00Z',
      });
      assert.equal(ev.author, 'dave');
      assert.deepEqual(
        ev.signatures.map((s) => [s.keyId, s.role, s.verified]),
        [
          [kit.ci.signer.keyId, 'signer', true],
          [builder.signer.keyId, 'builder', true],
          [kit.ci.signer.keyId, 'signer', true],
        ],
      );
      assert.deepEqual(ev.attestations, [
        { predicateType: PREDICATE_TYPES.slsaProvenance, predicate: FIXITY_PROVENANCE },
      ]);
      assert.deepEqual(
        ev.sources.filter((s) => s.kind === 'attestation').map((s) => s.referrer),
        [provenance],
      );
      const why = Object.fromEntries(ev.rejected.map((r) => [r.referrer, r.reason]));
      assert.match(why[late.referrer]!, /held no valid role when the ledger recorded it/);
      assert.match(why[stranger.referrer]!, /is not in the trust store/);
      assert.match(why[unlogged]!, /carries no ledger entry/);
      assert.match(why[elsewhere]!, /is not entry 0 of this ledger/);
      assert.equal(ev.rejected.length, 4);
      assert.deepEqual(ev.now, new Date(T0.getTime() + 60_000));
    });

    test('a failing gate refuses the promotion and explains itself; with the evidence attested it passes', async () => {
      const d = await kit.pushImage(REPO);
      promoted(await promote(d, 'build'));
      const first = refused(await promote(d, 'test'));
      assert.deepEqual(failing(first), ['signed', 'built-by-fixity']);
      const signed = step(first, 'gate', 'signed');
      assert.equal(
        signed.kind === 'gate' && signed.expression,
        "signatures.exists(s, s.verified && s.role == 'signer')",
      );
      assert.equal(signed.detail, 'false');
      assert.deepEqual(signed.kind === 'gate' && signed.observed, {
        'signatures[].verified': [],
        'signatures[].role': [],
      });
      assert.equal(step(first, 'upstream').passed, true);
      assert.deepEqual(await kit.release.promotions({ digest: d, stage: 'test' }), [], 'a refusal changes nothing');
      await kit.sign(REPO, d);
      assert.deepEqual(failing(refused(await promote(d, 'test'))), ['built-by-fixity']);
      const attestation = await kit.attest(REPO, d, PREDICATE_TYPES.slsaProvenance, FIXITY_PROVENANCE);
      const r = await promote(d, 'test');
      promoted(r);
      assert.ok(r.decision.steps.every((s) => s.passed));
      // The VSA lists the referrers whose evidence the gates saw.
      const statement = JSON.parse(Buffer.from(r.vsa.bundle.dsseEnvelope!.payload, 'base64').toString()) as {
        predicate: { inputAttestations: Array<{ uri: string }> };
      };
      const inputs = statement.predicate.inputAttestations.map((i) => i.uri);
      assert.ok(inputs.includes(`oci://${REGISTRY_HOST}/${REPO}@${attestation}`), inputs.join('\n'));
      // Promoting it there again is a conflict, not a second record.
      const again = await promote(d, 'test', 'frank');
      assert.equal(again.kind, 'conflict');
      assert.match(again.kind === 'conflict' ? again.message : '', /it was promoted there by erin/);
    });

    test('fan-in all: staging waits for both test and perf, then soaks an hour from the later one', async () => {
      const d = await kit.pushImage(REPO);
      await kit.sign(REPO, d);
      await kit.attest(REPO, d, PREDICATE_TYPES.slsaProvenance, FIXITY_PROVENANCE);
      await kit.attest(REPO, d, PREDICATE_TYPES.cosignVuln, COSIGN_VULN);
      promoted(await promote(d, 'build'));
      promoted(await promote(d, 'test'));
      const missing = refused(await promote(d, 'staging'));
      const upstream = step(missing, 'upstream');
      assert.deepEqual(upstream.kind === 'upstream' && upstream.missing, ['perf']);
      assert.deepEqual(failing(missing), ['upstream', 'soak', 'no-critical']);
      kit.clock.advance(HOUR / 2);
      const perfAt = kit.clock.now();
      promoted(await promote(d, 'perf'));
      const soaking = refused(await promote(d, 'staging'));
      const soak = step(soaking, 'soak');
      assert.deepEqual(soak.kind === 'soak' && soak.readyAt, new Date(perfAt.getTime() + HOUR));
      assert.match(soak.detail, /verified upstream for 0m, needs 1h/);
      kit.clock.advance(HOUR);
      assert.deepEqual(failing(refused(await promote(d, 'staging'))), ['no-critical']);
      await kit.attest(REPO, d, PREDICATE_TYPES.cosignVuln, COSIGN_VULN_CLEAN);
      promoted(await promote(d, 'staging'));
    });

    test('approvals: two distinct people, never the author, not the promoter, the same person twice counts once', async () => {
      kit.clock.set(new Date('2026-03-05T09:00:00Z')); // Thursday, 10:00 in Berlin
      const d = await toStaging();
      const approve = (actor: string) =>
        kit.release.approve({ repository: REPO, digest: d, stage: 'production', actor, comment: `ok from ${actor}` });
      await assert.rejects(approve('dave'), hasCode('APPROVAL_REFUSED'), 'dave pushed it');
      await assert.rejects(approve('dave#0f0f0f0f'), hasCode('APPROVAL_REFUSED'), 'another token of dave is dave');
      const alice = await approve('alice');
      assert.equal(alice.user, 'alice');
      assert.equal(typeof alice.logIndex, 'number');
      await approve('alice');
      const one = step(refused(await promote(d, 'production')), 'approvals');
      assert.equal(one.detail, '1 of 2 approvals (alice)');
      await approve('erin');
      const self = step(refused(await promote(d, 'production', 'erin')), 'approvals');
      assert.deepEqual(self.kind === 'approvals' && self.ignored, [
        { user: 'erin', reason: 'the promoter cannot approve their own promotion' },
      ]);
      await approve('bob');
      const r = await promote(d, 'production', 'erin');
      promoted(r);
      const counted = step(r.decision, 'approvals');
      assert.deepEqual(counted.kind === 'approvals' && counted.approvers, ['alice', 'bob']);
      // Each approval is a ledger entry naming the digest.
      const leaves = await Promise.all((await kit.ledger.findByDigest(d)).map((i) => kit.ledger.entry(i)));
      const approvals = leaves.map((l) => JSON.parse(l!.body.toString())).filter((b) => b.event === 'approval');
      assert.deepEqual(
        approvals.map((a) => a.actor),
        ['alice', 'alice', 'erin', 'bob'],
      );
      assert.deepEqual(Object.keys(approvals[0]).sort(), [
        'actor',
        'comment',
        'digests',
        'event',
        'repository',
        'stage',
        'time',
      ]);
    });

    test('a window closed now refuses with the next opening; at that time the promotion goes through', async () => {
      kit.clock.set(new Date('2026-03-07T10:00:00Z')); // Saturday
      const d = await toStaging();
      for (const actor of ['alice', 'bob']) {
        await kit.release.approve({ repository: REPO, digest: d, stage: 'production', actor });
      }
      const closed = refused(await promote(d, 'production'));
      assert.deepEqual(failing(closed), ['window']);
      // Monday 09:00 in Berlin (CET, UTC+1).
      assert.deepEqual(closed.nextOpening, new Date('2026-03-09T08:00:00Z'));
      const window = step(closed, 'window');
      assert.deepEqual(window.kind === 'window' && window.nextOpening, new Date('2026-03-09T08:00:00Z'));
      kit.clock.set(new Date('2026-03-09T08:00:00Z'));
      promoted(await promote(d, 'production'));
    });

    test('a veto blocks promotion into every stage until an admin lifts it', async () => {
      kit.clock.set(new Date('2026-03-10T09:00:00Z'));
      const d = await toStaging();
      const fresh = await kit.pushImage(REPO);
      for (const digest of [d, fresh]) {
        const v = await kit.release.veto({ digest, reason: 'CVE-2026-0001', actor: 'sec' });
        assert.equal(v.changed, true);
        assert.equal(await kit.release.isVetoed(digest), true);
      }
      const again = await kit.release.veto({ digest: d, reason: 'again', actor: 'other' });
      assert.deepEqual([again.changed, again.block.reason, again.logIndex], [false, 'CVE-2026-0001', null]);
      await kit.release.approve({ repository: REPO, digest: d, stage: 'production', actor: 'alice' });
      await kit.release.approve({ repository: REPO, digest: d, stage: 'production', actor: 'bob' });
      const production = refused(await promote(d, 'production'));
      assert.deepEqual(failing(production), ['veto']);
      assert.match(step(production, 'veto').detail, /vetoed by sec at .*: CVE-2026-0001/);
      assert.deepEqual(failing(refused(await promote(fresh, 'build'))), ['veto']);
      assert.equal((await kit.release.status(REPO, d)).veto?.reason, 'CVE-2026-0001');
      await assert.rejects(kit.release.liftVeto({ digest: d, actor: 'erin', admin: false }), hasCode('ADMIN_REQUIRED'));
      const lifted = await kit.release.liftVeto({ digest: d, actor: 'root', admin: true, reason: 'fixed upstream' });
      assert.equal(lifted.changed, true);
      assert.equal(await kit.release.isVetoed(d), false);
      await assert.rejects(kit.release.liftVeto({ digest: d, actor: 'root', admin: true }), hasCode('NOT_VETOED'));
      promoted(await promote(d, 'production'));
      assert.deepEqual(failing(refused(await promote(fresh, 'build'))), ['veto'], 'only d was lifted');
      const events = await Promise.all((await kit.ledger.findByDigest(d)).map((i) => kit.ledger.entry(i)));
      const kinds = events.map((l) => JSON.parse(l!.body.toString()).event);
      assert.deepEqual(
        kinds.filter((k) => k === 'veto' || k === 'veto.lifted'),
        ['veto', 'veto.lifted'],
      );
    });

    test('status() says where the digest is and what it lacks for each stage it could enter next', async () => {
      const d = await kit.pushImage(REPO, { tag: 'st' });
      promoted(await promote(d, 'build'));
      await kit.sign(REPO, d);
      const s = await kit.release.status(REPO, d, { actor: 'erin' });
      assert.deepEqual(
        s.promotions.map((p) => [p.stage, p.actor, p.vsa !== null]),
        [['build', 'erin', true]],
      );
      assert.deepEqual(s.pipeline, { version: 1, digest: (await kit.release.pipeline())!.digest });
      assert.equal(s.author, 'dave');
      assert.equal(s.veto, null);
      assert.deepEqual(
        s.next.map((n) => [n.stage, n.decision.allowed, failing(n.decision)]),
        [
          ['test', false, ['built-by-fixity']],
          ['perf', true, []],
        ],
        'staging comes from test and perf, which it has not reached',
      );
      assert.deepEqual(
        s.evidence.signatures.map((x) => x.role),
        ['signer'],
      );
      assert.deepEqual(await kit.release.promotions({ digest: d, stage: 'perf' }), [], 'status is a dry run');
    });

    test('promote() refuses an unknown stage or image before evaluating anything', async () => {
      const d = await kit.pushImage(REPO);
      await assert.rejects(promote(d, 'qa'), hasCode('STAGE_UNKNOWN'));
      await assert.rejects(promote(`sha256:${'0'.repeat(64)}`, 'build'), hasCode('ARTIFACT_UNKNOWN'));
      await assert.rejects(
        kit.release.approve({ repository: REPO, digest: d, stage: 'qa', actor: 'alice' }),
        hasCode('STAGE_UNKNOWN'),
      );
    });

    test('a manual promotion into a protected stage needs a reason, kept with it and in its ledger leaf', async () => {
      const vault = 'name: shop\nstages:\n  - name: build\n  - name: vault\n    from: [build]\n    protected: true\n';
      await kit.release.applyPipeline(vault, { actor: 'alice', admin: false });
      const d = await kit.pushImage(REPO);
      promoted(await promote(d, 'build'));
      const into = (reason?: string) =>
        kit.release.promote({ repository: REPO, digest: d, stage: 'vault', actor: 'erin', trigger: 'manual', reason });
      await assert.rejects(into(), hasCode('REASON_REQUIRED'));
      await assert.rejects(into('   '), hasCode('REASON_REQUIRED'));
      assert.equal((await kit.release.promotions({ digest: d, stage: 'vault' })).length, 0, 'nothing recorded');
      const r = await into('  hotfix for CVE-2026-1234 ');
      promoted(r);
      assert.equal(r.promotion.reason, 'hotfix for CVE-2026-1234');
      assert.equal(
        (await kit.release.promotions({ digest: d, stage: 'vault' }))[0]?.reason,
        'hotfix for CVE-2026-1234',
      );
      assert.equal((await kit.release.promotions({ digest: d, stage: 'build' }))[0]?.reason, null);
      await kit.release.log.flush();
      const leaves = [];
      for (const index of await kit.ledger.findByDigest(d)) {
        const entry = await kit.ledger.entry(index);
        if (entry !== null) leaves.push(JSON.parse(entry.body.toString('utf8')) as Record<string, unknown>);
      }
      const promotions = leaves.filter((l) => l.event === 'promotion');
      assert.deepEqual(
        promotions.map((l) => [l.stage, l.reason]),
        [
          ['build', undefined],
          ['vault', 'hotfix for CVE-2026-1234'],
        ],
      );
    });
  });
}
