// The `prepare` step: it runs in a clean copy with the network off (under bubblewrap), only declared
// outputs reach the image, the source itself is untouched, and provenance records what ran.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from '../src/build/build.ts';
import { systemClock } from '../src/core/index.ts';
import { createRegistryClient } from '../src/oci/index.ts';

const HELLO = new URL('../examples/hello/', import.meta.url).pathname;
const BWRAP = existsSync('/usr/bin/bwrap');

describe('build() with prepare', () => {
  let work: string;
  before(async () => {
    if (!BWRAP && process.env.CI === 'true')
      throw new Error('Cannot test the prepare sandbox: bubblewrap is missing (apt-get install bubblewrap)');
    work = await mkdtemp(join(tmpdir(), 'fixity-prepare-test-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  const options = (dir: string) => ({
    dir,
    cacheDir: join(work, 'cache'),
    toolVersion: 'test',
    registry: createRegistryClient(),
    clock: systemClock,
    sourceDateEpoch: 1_700_000_000,
  });

  it('build() packages only declared prepare outputs and leaves the source untouched', async () => {
    const dir = join(work, 'outputs');
    await cp(HELLO, dir, { recursive: true });
    await writeFile(
      join(dir, 'fixity.yaml'),
      [
        'name: prepared',
        'version: 1.0.0',
        'prepare:',
        '  run: "mkdir -p dist tooling && echo built > dist/app.txt && echo cache > tooling/junk && echo $GREETING > dist/env.txt"',
        '  outputs: [dist]',
        '  env: { GREETING: hi }',
        'layers:',
        '  - from: dist',
        '    to: /app',
        '  - from: .',
        '    to: /src',
        '    include: ["server.js"]',
        '',
      ].join('\n'),
    );
    const result = await build(options(dir));
    assert.ok(
      !existsSync(join(dir, 'dist')) && !existsSync(join(dir, 'tooling')),
      'prepare never writes into the source',
    );
    const provenance = result.provenance.statement as {
      predicate: {
        buildDefinition: { internalParameters: Record<string, unknown>; externalParameters: Record<string, unknown> };
      };
    };
    const recorded = JSON.stringify(provenance.predicate.buildDefinition);
    assert.match(recorded, /mkdir -p dist tooling/);
    assert.match(recorded, /"GREETING":"hi"/);
    assert.match(recorded, BWRAP ? /bubblewrap/ : /none/);
    const sbomFiles =
      (result.sbom.statement as { predicate: { files?: Array<{ fileName: string }> } }).predicate.files ?? [];
    const names = sbomFiles.map((f) => f.fileName).sort();
    assert.ok(names.some((n) => n.endsWith('app/app.txt')) && names.some((n) => n.endsWith('app/env.txt')));
    assert.ok(!names.some((n) => n.includes('junk')), 'undeclared outputs never reach the image');
  });

  it('build() runs prepare with the network off', { skip: !BWRAP && 'bubblewrap is not installed' }, async () => {
    const server = createServer((s) => s.on('error', () => undefined).end('reachable'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = join(work, 'offline');
      await cp(HELLO, dir, { recursive: true });
      const probe = `node -e "require('net').connect(${port},'127.0.0.1').on('connect',()=>process.exit(3)).on('error',()=>{require('fs').mkdirSync('out');process.exit(0)})"`;
      await writeFile(
        join(dir, 'fixity.yaml'),
        `name: offline\nversion: 1.0.0\nprepare:\n  run: ${JSON.stringify(probe)}\n  outputs: [out]\nlayers:\n  - from: out\n    to: /out\n`,
      );
      await build(options(dir));
      await writeFile(
        join(dir, 'fixity.yaml'),
        (await readFile(join(dir, 'fixity.yaml'), 'utf8')).replace('outputs: [out]', 'outputs: [out]\n  network: true'),
      );
      await assert.rejects(build(options(dir)), /exited with 3/);
    } finally {
      server.close();
    }
  });

  it('build() reports a failing prepare command with its output', async () => {
    const dir = join(work, 'failing');
    await cp(HELLO, dir, { recursive: true });
    await writeFile(
      join(dir, 'fixity.yaml'),
      'name: failing\nversion: 1.0.0\nprepare:\n  run: "echo compiling; echo boom >&2; exit 2"\n  outputs: [out]\nlayers:\n  - from: .\n    to: /app\n    include: ["server.js"]\n',
    );
    await assert.rejects(build(options(dir)), (err: Error) => {
      assert.match(err.message, /exited with 2/);
      assert.match(err.message, /boom/);
      return true;
    });
  });
});
