// Pipeline versions on every engine: validated, immutable, numbered, each recorded in the ledger with its digest;
// unchanged pipelines make no version; only an admin may enable automatic promotion.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parsePipelineYAML, pipelineDigest, ReleaseError } from '../src/release/index.ts';
import { openReleaseKit, PIPELINE, type ReleaseKit } from './release-kit.ts';
import { testDatabases } from './support/databases.ts';

const hasCode = (code: string) => (e: unknown) => e instanceof ReleaseError && e.code === code;
const AUTO = `stages:\n  - name: build\n  - name: test\n    from: [build]\n    auto: true\n`;

for (const makeEngine of await testDatabases()) {
  const engine = await makeEngine();
  describe(`release pipeline (${engine.name})`, () => {
    let kit: ReleaseKit;
    before(async () => {
      kit = await openReleaseKit(engine);
    });
    after(async () => kit?.close());

    test('before any apply there is no pipeline, and promote() says so', async () => {
      assert.equal(await kit.release.pipeline(), null);
      const d = await kit.pushImage('p/app');
      await assert.rejects(
        kit.release.promote({ repository: 'p/app', digest: d, stage: 'build', actor: 'erin', trigger: 'manual' }),
        hasCode('PIPELINE_UNSET'),
      );
    });

    test('applyPipeline() stores version 1 with its digest and records it in the ledger', async () => {
      const applied = await kit.release.applyPipeline(PIPELINE, { actor: 'alice', admin: false });
      const digest = pipelineDigest(parsePipelineYAML(PIPELINE));
      assert.deepEqual(
        { ...applied, logIndex: typeof applied.logIndex },
        {
          version: 1,
          digest,
          changed: true,
          logIndex: 'number',
        },
      );
      const current = (await kit.release.pipeline())!;
      assert.deepEqual(
        [current.version, current.digest, current.yaml, current.appliedBy],
        [1, digest, PIPELINE, 'alice'],
      );
      assert.deepEqual(
        current.spec.stages.map((s) => s.name),
        ['build', 'test', 'perf', 'staging', 'production'],
      );
      const leaf = JSON.parse((await kit.ledger.entry(applied.logIndex!))!.body.toString());
      assert.deepEqual(leaf, {
        event: 'pipeline.applied',
        actor: 'alice',
        time: kit.clock.now().toISOString(),
        digests: [digest],
        version: 1,
      });
      assert.deepEqual(await kit.ledger.findByDigest(digest), [applied.logIndex]);
    });

    test('an unchanged pipeline (comments, layout and spelled-out defaults aside) makes no new version', async () => {
      const size = (await kit.ledger.checkpoint()).size;
      const same = await kit.release.applyPipeline(`# reformatted\n${PIPELINE.replace('    require: all\n', '')}\n\n`, {
        actor: 'bob',
        admin: false,
      });
      assert.deepEqual([same.version, same.changed], [1, false]);
      assert.equal(typeof same.logIndex, 'number', 'the index where version 1 was logged');
      assert.equal((await kit.ledger.checkpoint()).size, size);
    });

    test('enabling auto needs an admin; keeping it enabled does not', async () => {
      await assert.rejects(kit.release.applyPipeline(AUTO, { actor: 'bob', admin: false }), (e: unknown) => {
        assert.ok(hasCode('ADMIN_REQUIRED')(e));
        assert.match((e as Error).message, /only an admin may enable automatic promotion \(auto: true\) into test/);
        return true;
      });
      assert.equal((await kit.release.pipeline())!.version, 1, 'nothing stored');
      const v2 = await kit.release.applyPipeline(AUTO, { actor: 'root', admin: true });
      assert.deepEqual([v2.version, v2.changed], [2, true]);
      const edit = `${AUTO}  - name: prod\n    from: [test]\n`;
      const v3 = await kit.release.applyPipeline(edit, { actor: 'bob', admin: false });
      assert.equal(v3.version, 3);
      await assert.rejects(
        kit.release.applyPipeline(edit.replace('from: [test]\n', 'from: [test]\n    auto: true\n'), {
          actor: 'bob',
          admin: false,
        }),
        hasCode('ADMIN_REQUIRED'),
      );
    });

    test('an invalid pipeline is refused with every problem and stores nothing', async () => {
      await assert.rejects(
        kit.release.applyPipeline('stages:\n  - name: a\n    from: [zz]\n    gates: [{name: g, expression: "1 +"}]\n', {
          actor: 'bob',
          admin: false,
        }),
        (e: unknown) => {
          assert.ok(hasCode('PIPELINE_INVALID')(e));
          assert.equal((e as ReleaseError).issues.length, 2, (e as ReleaseError).issues.join('\n'));
          return true;
        },
      );
      assert.equal((await kit.release.pipeline())!.version, 3);
    });

    test('concurrent applies of different pipelines get consecutive versions', async () => {
      const a = `stages:\n  - name: one\n`;
      const b = `stages:\n  - name: two\n`;
      const results = await Promise.all([
        kit.release.applyPipeline(a, { actor: 'x', admin: false }),
        kit.release.applyPipeline(b, { actor: 'y', admin: false }),
      ]);
      assert.deepEqual(results.map((r) => r.version).sort(), [4, 5]);
      assert.ok(results.every((r) => r.changed && typeof r.logIndex === 'number'));
    });
  });
}
