// `fixity build` end to end in process: reproducibility across paths and umasks, the layer cache, pushing
// to a registry with evidence as referrers, an OCI layout that umoci and skopeo accept, base images, and
// refusals (secrets, bad specs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { build } from '../src/build/build.ts';
import { digestOf, systemClock } from '../src/core/index.ts';
import { createRegistryClient, parseReference } from '../src/oci/index.ts';
import { sqliteDatabase } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';

const run = promisify(execFile);
const HELLO = new URL('../examples/hello/', import.meta.url).pathname;

describe('build()', () => {
  let h: Harness;
  let host: string;
  let work: string;
  before(async () => {
    h = await createHarness(await sqliteDatabase());
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address();
    host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    work = await mkdtemp(join(tmpdir(), 'fixity-build-test-'));
  });
  after(async () => {
    await h.close();
    await rm(work, { recursive: true, force: true });
  });

  const registry = () => createRegistryClient({ credentials: () => ({ username: 'ci', password: h.adminToken }) });
  const options = (dir: string, extra: Partial<Parameters<typeof build>[0]> = {}) => ({
    dir,
    cacheDir: join(work, 'cache'),
    toolVersion: 'test',
    registry: registry(),
    clock: systemClock,
    sourceDateEpoch: 1_700_000_000,
    ...extra,
  });

  it('build() gives the same digest from two checkouts at different paths, umasks and mtimes', async () => {
    const a = join(work, 'a', 'hello');
    const b = join(work, 'elsewhere', 'deeper', 'hello');
    await cp(HELLO, a, { recursive: true });
    await cp(HELLO, b, { recursive: true });
    await writeFile(join(b, 'server.js'), await readFile(join(a, 'server.js')));
    const old = process.umask(0o077);
    try {
      const first = await build(options(a, { noCache: true }));
      process.umask(0o002);
      const second = await build(options(b, { noCache: true, cacheDir: join(work, 'cache2') }));
      assert.equal(first.digest, second.digest);
      assert.equal(first.sbom.digest, second.sbom.digest, 'same inputs, same SBOM referrer');
      assert.deepEqual(
        first.layers.map((l) => l.diffId),
        second.layers.map((l) => l.diffId),
      );
      assert.equal(first.epochFrom, 'SOURCE_DATE_EPOCH');
    } finally {
      process.umask(old);
    }
  });

  it('build() reuses an unchanged layer from the cache and rebuilds a changed one', async () => {
    const dir = join(work, 'cached');
    await cp(HELLO, dir, { recursive: true });
    const cold = await build(options(dir));
    const warm = await build(options(dir));
    assert.equal(warm.digest, cold.digest);
    assert.ok(warm.layers.every((l) => l.cached));
    await writeFile(join(dir, 'server.js'), `${await readFile(join(dir, 'server.js'), 'utf8')}// changed\n`);
    const changed = await build(options(dir));
    assert.notEqual(changed.digest, cold.digest);
    assert.ok(!changed.layers[0]!.cached);
  });

  it('build() remembers file digests and clean scans unless --no-cache, and shrugs off a corrupt record', async () => {
    const dir = join(work, 'remembered');
    await cp(HELLO, dir, { recursive: true });
    const bypass = join(work, 'cache-bypass');
    const plain = await build(options(dir, { noCache: true, cacheDir: bypass }));
    assert.deepEqual(await readdir(bypass), ['layers'], '--no-cache neither reads nor writes digests or scans');
    const cacheDir = join(work, 'cache-remembered');
    const first = await build(options(dir, { cacheDir }));
    const records = [
      ...(await readdir(join(cacheDir, 'files'))).map((f) => join(cacheDir, 'files', f)),
      ...(await readdir(join(cacheDir, 'secrets'))).map((f) => join(cacheDir, 'secrets', f)),
    ];
    assert.equal(records.length, 2);
    for (const record of records) await writeFile(record, '{"version":1,"entries":[["server.js"');
    const second = await build(options(dir, { cacheDir }));
    assert.deepEqual([first.digest, second.digest], [plain.digest, plain.digest]);
    for (const record of records) assert.doesNotThrow(() => JSON.parse(readFileSync(record, 'utf8')));
  });

  it('build() pushes the image with provenance and SBOM referrers, and the pushed bytes match', async () => {
    const dir = join(work, 'push');
    await cp(HELLO, dir, { recursive: true });
    const result = await build(options(dir, { push: [`${host}/examples/hello:1.0.0`] }));
    const client = registry();
    const ref = parseReference(`${host}/examples/hello:1.0.0`);
    const pulled = await client.getManifest(ref, '1.0.0');
    assert.equal(pulled!.digest, result.digest);
    const referrers = await client.listReferrers(ref, result.digest);
    const types = referrers.map((r) => r.annotations?.['in-toto.io/predicate-type']).sort();
    assert.deepEqual(types, ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document']);
    const manifest = JSON.parse(new TextDecoder().decode(pulled!.bytes));
    assert.equal(manifest.annotations['org.opencontainers.image.version'], '1.0.0');
    assert.equal(manifest.annotations['org.opencontainers.image.created'], '2023-11-14T22:13:20Z');
  });

  it('build() writes an OCI layout that umoci unpacks and skopeo copies into the registry unchanged', async () => {
    const dir = join(work, 'layout-src');
    await cp(HELLO, dir, { recursive: true });
    const layout = join(work, 'layout');
    const result = await build(options(dir, { ociLayout: layout }));
    const inspected = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${layout}:1.0.0`])).stdout);
    assert.equal(inspected.schemaVersion, 2);
    const { stdout: digestOut } = await run('skopeo', [
      'manifest-digest',
      join(layout, 'blobs', 'sha256', result.digest.slice(7)),
    ]);
    assert.equal(digestOut.trim(), result.digest);
    await run('umoci', ['unpack', '--rootless', '--image', `${layout}:1.0.0`, join(work, 'bundle')]);
    const server = await readFile(join(work, 'bundle', 'rootfs', 'app', 'server.js'), 'utf8');
    assert.match(server, /immutable world/);
    await run('skopeo', [
      'copy',
      '--dest-creds',
      `x:${h.adminToken}`,
      '--dest-tls-verify=false',
      `oci:${layout}:1.0.0`,
      `docker://${host}/examples/copied:1.0.0`,
    ]);
    const copied = await registry().getManifest(parseReference(`${host}/examples/copied`), '1.0.0');
    assert.equal(copied!.digest, result.digest, 'skopeo kept the digest');
  });

  it('build() writes an OCI archive that skopeo reads with the same digest', async () => {
    const dir = join(work, 'archive-src');
    await cp(HELLO, dir, { recursive: true });
    const archive = join(work, 'hello.tar');
    const result = await build(options(dir, { ociArchive: archive }));
    const raw = (await run('skopeo', ['inspect', '--raw', `oci-archive:${archive}:1.0.0`])).stdout;
    assert.equal(digestOf(Buffer.from(raw)), result.digest);
  });

  it('build() builds on a base image pinned in fixity.lock', async () => {
    const dir = join(work, 'derived');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'extra.txt'), 'on top\n');
    await writeFile(
      join(dir, 'fixity.yaml'),
      `name: derived\nversion: 0.1.0\nbase: ${host}/examples/hello:1.0.0\nlayers:\n  - from: .\n    to: /extra\n    include: ["extra.txt"]\n`,
    );
    const first = await build(options(dir));
    const lock = JSON.parse(await readFile(join(dir, 'fixity.lock'), 'utf8'));
    assert.equal(lock.base.ref, `${host}/examples/hello:1.0.0`);
    assert.equal(first.layers.length, 2);
    assert.equal(first.layers[0]!.from, `${host}/examples/hello:1.0.0`);
    const again = await build(options(dir, { push: [`${host}/examples/derived:0.1.0`] }));
    assert.equal(again.digest, first.digest);
  });

  it('build() refuses a packaged secret and names file, line and rule without printing it', async () => {
    const dir = join(work, 'leaky');
    await cp(HELLO, dir, { recursive: true });
    const key = ['-----BEGIN', 'RSA PRIVATE KEY-----'].join(' ');
    await writeFile(
      join(dir, 'server.js'),
      `// ok\nconst k = \`${key}\nMIIEowIBAAKCAQEAx${'A'.repeat(60)}\n-----END RSA PRIVATE KEY-----\`;\n`,
    );
    await assert.rejects(build(options(dir)), (err: Error) => {
      assert.match(err.message, /server\.js:2/);
      assert.doesNotMatch(err.message, /MIIEowIBAAKCAQEAx/);
      return true;
    });
    await writeFile(
      join(dir, 'fixity.yaml'),
      `${await readFile(join(dir, 'fixity.yaml'), 'utf8')}secrets:\n  allow:\n    - path: app/server.js\n      rule: private-key\n`,
    );
    const result = await build(options(dir));
    assert.match(result.digest, /^sha256:/);
  });

  it('build() refuses a fixity.yaml with an unknown key, naming it', async () => {
    const dir = join(work, 'bad-spec');
    await cp(HELLO, dir, { recursive: true });
    await writeFile(join(dir, 'fixity.yaml'), `${await readFile(join(dir, 'fixity.yaml'), 'utf8')}entrypiont: ["x"]\n`);
    await assert.rejects(build(options(dir)), /entrypiont: unknown key/);
  });
});
