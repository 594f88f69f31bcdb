// build() at another compression level: the same tar (diff_id) in other compressed bytes, a layer key of its
// own (a default-level layer in the cache is not taken for it), the level named in the provenance, and the
// default level, asked for by number, giving the default build exactly.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { build } from './build.ts';
import { testBuildOptions } from './test-build-options.ts';

const HELLO = new URL('../../examples/hello', import.meta.url).pathname;
type Internal = { predicate: { buildDefinition: { internalParameters: Record<string, unknown> } } };
const internal = (r: { provenance: { statement: object } }) =>
  (r.provenance.statement as Internal).predicate.buildDefinition.internalParameters;

describe('build() compression levels', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-level-test-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('another level: the same tars in other bytes, its own cache entry, the level in the provenance', async () => {
    const cacheDir = join(work, 'cache');
    const standard = await build(testBuildOptions(HELLO, cacheDir));
    const fast = await build({ ...testBuildOptions(HELLO, cacheDir), compressionLevel: 1 });
    assert.deepEqual(
      fast.layers.map((l) => l.diffId),
      standard.layers.map((l) => l.diffId),
    );
    assert.notEqual(fast.digest, standard.digest);
    assert.ok(fast.layers.every((l, i) => l.digest !== standard.layers[i]!.digest));
    assert.ok(
      fast.layers.every((l) => !l.cached),
      'a layer compressed at level 6 is not reused for level 1',
    );
    assert.equal(internal(fast).compressionLevel, 1);
    assert.equal('compressionLevel' in internal(standard), false, 'the default level is not named');
    const again = await build({ ...testBuildOptions(HELLO, cacheDir), compressionLevel: 1 });
    assert.equal(again.digest, fast.digest);
    assert.ok(
      again.layers.every((l) => l.cached),
      'its own cache entry is found',
    );
    const six = await build({ ...testBuildOptions(HELLO, join(work, 'other')), compressionLevel: 6 });
    assert.equal(six.digest, standard.digest, 'level 6 asked for by number is the default build');
  });

  test('a level out of range is LAYER_INVALID, naming the range', async () => {
    for (const [compression, level] of [
      ['gzip', 0],
      ['gzip', 10],
      ['zstd', 20],
      ['gzip', 2.5],
    ] as const) {
      await assert.rejects(
        build({ ...testBuildOptions(HELLO, join(work, 'bad')), compression, compressionLevel: level }),
        (err) => isErrorWithCode(err, 'LAYER_INVALID') && /takes 1 to (9|19)/.test((err as Error).message),
        `${compression} ${level}`,
      );
    }
  });
});
