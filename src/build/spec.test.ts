import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildSpecJSONSchema, loadBuildSpec, parseBuildSpec, SpecError } from './spec.ts';

const minimal = { name: 'hello', version: '1.0.0', layers: [{ from: '.', to: '/app' }] };

describe('parseBuildSpec()', () => {
  it('parseBuildSpec() fills defaults for base and platform', () => {
    const spec = parseBuildSpec(minimal);
    assert.equal(spec.base, 'scratch');
    assert.equal(spec.platform, 'linux/amd64');
  });

  it('parseBuildSpec() names unknown keys with their path and the keys it expected', () => {
    const err = catchSpec({ ...minimal, layers: [{ form: '.', to: '/app' }], entrypiont: ['x'] });
    assert.ok(
      err.issues.some(
        (i) =>
          i ===
          'entrypiont: unknown key; expected one of name, version, base, platform, prepare, layers, entrypoint, cmd, env, workdir, user, exposedPorts, labels, annotations, secrets',
      ),
    );
    assert.ok(
      err.issues.some((i) =>
        i.startsWith('layers[0].form: unknown key; expected one of from, to, include, exclude, modes'),
      ),
    );
    assert.ok(err.issues.includes('layers[0].from: required (string)'));
  });

  it('parseBuildSpec() says what was expected for wrong types and values', () => {
    const err = catchSpec({
      ...minimal,
      version: '1.0',
      exposedPorts: ['http'],
      env: { PORT: 8080 },
      layers: [{ from: '../up', to: 'app' }],
    });
    assert.ok(err.issues.includes('version: a semantic version such as 1.2.3'));
    assert.ok(err.issues.includes('layers[0].from: a relative path inside the source, without ".."'));
    assert.ok(err.issues.includes('layers[0].to: an absolute path in the image, e.g. /app'));
    assert.ok(err.issues.some((i) => i.startsWith('env.PORT:')));
    assert.ok(err.issues.some((i) => i.startsWith('exposedPorts[0]:')));
  });

  it('parseBuildSpec() rejects `..` in image paths, globs and prepare outputs', () => {
    const err = catchSpec({
      ...minimal,
      workdir: '/app/../etc',
      layers: [{ from: '.', to: '/app', include: ['../secret'] }],
      prepare: { run: 'make', outputs: ['../out'] },
    });
    assert.equal(err.issues.length, 3, err.message);
  });
});

describe('loadBuildSpec()', () => {
  it('loadBuildSpec() reads examples/hello/fixity.yaml', async () => {
    const spec = await loadBuildSpec(new URL('../../examples/hello/fixity.yaml', import.meta.url).pathname);
    assert.equal(spec.name, 'hello');
    assert.deepEqual(spec.entrypoint, ['node', '/app/server.js']);
  });

  it('loadBuildSpec() reports a missing file with what to do', async () => {
    await assert.rejects(loadBuildSpec('/nonexistent/fixity.yaml'), /write a fixity\.yaml/);
  });
});

describe('buildSpecJSONSchema()', () => {
  it('buildSpecJSONSchema() matches schema/fixity.schema.json (run `npm run schema` after changing the spec)', () => {
    const onDisk = JSON.parse(readFileSync(new URL('../../schema/fixity.schema.json', import.meta.url), 'utf8'));
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(buildSpecJSONSchema())));
  });
});

function catchSpec(doc: unknown): SpecError {
  try {
    parseBuildSpec(doc);
  } catch (err) {
    assert.ok(err instanceof SpecError);
    return err;
  }
  assert.fail('expected a SpecError');
}
