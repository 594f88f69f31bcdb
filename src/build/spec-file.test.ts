import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { systemClock } from '../core/index.ts';
import { loadBuildSpec, SpecError } from './spec.ts';
import { readBuildSpec } from './spec-file.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-spec-file-'));
  dirs.push(dir);
  const file = join(dir, 'fixity.yaml');
  await writeFile(file, await readFile(new URL('../../examples/hello/fixity.yaml', import.meta.url)));
  return { file, cache: { dir: join(dir, 'cache'), clock: systemClock } };
}

describe('readBuildSpec()', () => {
  test('readBuildSpec() parses once, remembers the valid spec by its bytes, and reads it back from the cache', async () => {
    const { file, cache } = await setup();
    const first = await readBuildSpec(file, cache);
    assert.deepEqual(first.spec, await loadBuildSpec(file));
    assert.deepEqual(await readdir(join(cache.dir, 'specs')), [first.entry!.split('/').at(-1)]);
    // What the entry holds is what a build gets while the file's bytes stay the same.
    const remembered = JSON.parse(await readFile(first.entry!, 'utf8'));
    await writeFile(first.entry!, JSON.stringify({ ...remembered, name: 'from-cache' }));
    const second = await readBuildSpec(file, cache);
    assert.equal(second.entry, first.entry);
    assert.equal(second.spec.name, 'from-cache');
    // Other bytes are another entry, parsed afresh.
    await writeFile(file, `${await readFile(file, 'utf8')}\n# a comment\n`);
    const third = await readBuildSpec(file, cache);
    assert.notEqual(third.entry, first.entry);
    assert.equal(third.spec.name, 'hello');
  });

  test('readBuildSpec() never remembers an invalid spec, and without a cache writes nothing', async () => {
    const { file, cache } = await setup();
    await writeFile(file, 'name: hello\nversion: 1\nlayers: []\nsurprise: true\n');
    for (let i = 0; i < 2; i++) await assert.rejects(readBuildSpec(file, cache), SpecError);
    await assert.rejects(readdir(join(cache.dir, 'specs')), { code: 'ENOENT' });
    await writeFile(file, await readFile(new URL('../../examples/hello/fixity.yaml', import.meta.url)));
    assert.deepEqual(await readBuildSpec(file, null), { spec: await loadBuildSpec(file), entry: null });
    await assert.rejects(readdir(join(cache.dir, 'specs')), { code: 'ENOENT' });
  });

  test('readBuildSpec() parses afresh over an entry that is not JSON, and builds on when the cache cannot be written', async () => {
    const { file, cache } = await setup();
    const { entry } = await readBuildSpec(file, cache);
    await writeFile(entry!, '{"name": "trunc');
    assert.deepEqual(await readBuildSpec(file, cache), { spec: await loadBuildSpec(file), entry });
    assert.deepEqual(JSON.parse(await readFile(entry!, 'utf8')), await loadBuildSpec(file), 'rewritten');
    const blocked = { ...cache, dir: join(cache.dir, 'not-a-dir') };
    await writeFile(blocked.dir, 'a file where the cache directory should be');
    assert.deepEqual(await readBuildSpec(file, blocked), { spec: await loadBuildSpec(file), entry: null });
  });

  test('readBuildSpec() of a missing file says to write one, cache or not', async () => {
    const { cache } = await setup();
    await assert.rejects(readBuildSpec('/nonexistent/fixity.yaml', cache), /write a fixity\.yaml/);
    await assert.rejects(readBuildSpec('/nonexistent/fixity.yaml', null), /write a fixity\.yaml/);
  });
});
