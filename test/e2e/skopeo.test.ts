// Real clients against a real `fixity serve`: umoci builds an OCI layout, skopeo pushes, inspects, lists,
// pulls back (byte for byte) and deletes it, through the Docker bearer-token flow.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import {
  type CLIResult,
  removeTempDir,
  run,
  type ServerProcess,
  startServerProcess,
  tempDir,
} from '../support/server-process.ts';
import { corruptBlobFiles, sha256 } from './registry-client.ts';

const HELLO = 'hello from the e2e suite\n';
const ENTRYPOINT = '/bin/hello';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface Layout {
  dir: string;
  manifestDigest: string;
  manifest: Buffer;
  /** Config and layers, by digest. */
  blobs: Map<string, Buffer>;
}

const ok = (r: CLIResult, what: string) =>
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);

const umoci = async (cwd: string, ...args: string[]) => ok(await run('umoci', args, { cwd }), `umoci ${args[0]}`);
// --insecure-policy: no signature policy applies to these copies (and no /etc/containers file is needed).
const skopeo = (cwd: string, ...args: string[]) => run('skopeo', ['--insecure-policy', ...args], { cwd });

/** Reads the manifest tagged `ref` in an OCI layout, and the blobs it references. */
async function readLayout(dir: string, ref: string): Promise<Layout> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  assert.ok(desc, `the layout ${dir} has no manifest named ${ref}`);
  const blob = (digest: string) => readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
  const manifest = await blob(desc.digest);
  assert.equal(sha256(manifest), desc.digest);
  const parsed = JSON.parse(manifest.toString()) as { config: Descriptor; layers: Descriptor[] };
  const blobs = new Map<string, Buffer>();
  for (const d of [parsed.config, ...parsed.layers]) blobs.set(d.digest, await blob(d.digest));
  return { dir, manifestDigest: desc.digest, manifest, blobs };
}

/** umoci init/new/unpack, add a file, repack, set an entrypoint. */
async function buildLayout(work: string): Promise<Layout> {
  await umoci(work, 'init', '--layout', 'layout');
  await umoci(work, 'new', '--image', 'layout:v1');
  await umoci(work, 'unpack', '--rootless', '--image', 'layout:v1', 'bundle');
  await writeFile(join(work, 'bundle', 'rootfs', 'hello.txt'), HELLO);
  await umoci(work, 'repack', '--image', 'layout:v1', 'bundle');
  await umoci(work, 'config', '--image', 'layout:v1', '--config.entrypoint', ENTRYPOINT);
  // A second, different image in the same layout (for the immutable-tag check).
  await umoci(work, 'config', '--image', 'layout:v1', '--tag', 'v2', '--config.env', 'VARIANT=2');
  return readLayout(join(work, 'layout'), 'v1');
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`skopeo and umoci against fixity serve (${database.name})`, () => {
    let server: ServerProcess;
    let work: string;
    let layout: Layout;
    let image: string;
    let creds: string;

    before(async () => {
      work = await tempDir('fixity-e2e-skopeo-');
      server = await startServerProcess({ database, args: ['--immutable', 'prod/**'] });
      layout = await buildLayout(work);
      image = `docker://${server.host}/e2e/app`;
      creds = `x:${server.token}`;
    });
    after(async () => {
      // Also on failure: kill the child, remove the data dir, drop the schema.
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
      if (work !== undefined) await removeTempDir(work);
    });

    test('skopeo copy pushes an umoci-built layout', async () => {
      ok(
        await skopeo(work, 'copy', '--dest-creds', creds, '--dest-tls-verify=false', 'oci:layout:v1', `${image}:v1`),
        'skopeo copy (push)',
      );
    });

    test('skopeo inspect and inspect --raw return the layout manifest and its digest', async () => {
      const raw = await skopeo(work, 'inspect', '--raw', '--creds', creds, '--tls-verify=false', `${image}:v1`);
      ok(raw, 'skopeo inspect --raw');
      assert.equal(sha256(raw.stdoutBytes), layout.manifestDigest);
      assert.ok(raw.stdoutBytes.equals(layout.manifest), 'the registry serves the manifest bytes it was given');

      const inspected = await skopeo(work, 'inspect', '--creds', creds, '--tls-verify=false', `${image}:v1`);
      ok(inspected, 'skopeo inspect');
      const info = JSON.parse(inspected.stdout) as { Digest: string; RepoTags: string[]; Layers: string[] };
      assert.equal(info.Digest, layout.manifestDigest);
      assert.deepEqual(info.RepoTags, ['v1']);
      const manifest = JSON.parse(layout.manifest.toString()) as { layers: Descriptor[] };
      assert.deepEqual(
        info.Layers,
        manifest.layers.map((l) => l.digest),
      );
    });

    test('skopeo list-tags lists the pushed tag', async () => {
      const listed = await skopeo(work, 'list-tags', '--creds', creds, '--tls-verify=false', image);
      ok(listed, 'skopeo list-tags');
      assert.deepEqual((JSON.parse(listed.stdout) as { Tags: string[] }).Tags, ['v1']);
    });

    test('skopeo copy back to a layout is identical byte for byte, and umoci unpacks it', async () => {
      ok(
        await skopeo(
          work,
          'copy',
          '--preserve-digests',
          '--src-creds',
          creds,
          '--src-tls-verify=false',
          `${image}:v1`,
          'oci:pulled:v1',
        ),
        'skopeo copy (pull)',
      );
      const pulled = await readLayout(join(work, 'pulled'), 'v1');
      assert.equal(pulled.manifestDigest, layout.manifestDigest);
      assert.ok(pulled.manifest.equals(layout.manifest));
      assert.deepEqual([...pulled.blobs.keys()].sort(), [...layout.blobs.keys()].sort());
      for (const [digest, bytes] of layout.blobs) {
        assert.ok(pulled.blobs.get(digest)?.equals(bytes), `blob ${digest} differs after the round trip`);
      }
      assert.deepEqual(await corruptBlobFiles(pulled.dir), []);
      assert.equal((await readdir(join(pulled.dir, 'blobs', 'sha256'))).length, 1 + layout.blobs.size);

      await umoci(work, 'unpack', '--rootless', '--image', 'pulled:v1', 'unpacked');
      assert.equal(await readFile(join(work, 'unpacked', 'rootfs', 'hello.txt'), 'utf8'), HELLO);
      const runtime = JSON.parse(await readFile(join(work, 'unpacked', 'config.json'), 'utf8')) as {
        process: { args: string[] };
      };
      assert.deepEqual(runtime.process.args, [ENTRYPOINT]);
    });

    test('wrong credentials make skopeo fail', async () => {
      const push = await skopeo(
        work,
        'copy',
        '--dest-creds',
        'x:not-a-token',
        '--dest-tls-verify=false',
        'oci:layout:v1',
        `${image}:wrong`,
      );
      assert.notEqual(push.code, 0, push.stdout);
      assert.match(push.stderr, /unauthorized|invalid username\/password|authentication required/i);
      const inspect = await skopeo(work, 'inspect', '--creds', 'x:not-a-token', '--tls-verify=false', `${image}:v1`);
      assert.notEqual(inspect.code, 0, inspect.stdout);
      const listed = await skopeo(work, 'list-tags', '--creds', creds, '--tls-verify=false', image);
      assert.deepEqual((JSON.parse(listed.stdout) as { Tags: string[] }).Tags, ['v1']);
    });

    test('a pull-only token from `fixity token create` can copy out but not in', async () => {
      const created = await server.cli([
        'token',
        'create',
        '--name',
        'reader',
        '--scope',
        'pull',
        '--repo',
        'e2e/**',
        '--json',
      ]);
      ok(created, 'fixity token create');
      const { secret } = JSON.parse(created.stdout) as { secret: string };
      const reader = `reader:${secret}`;
      ok(
        await skopeo(work, 'copy', '--src-creds', reader, '--src-tls-verify=false', `${image}:v1`, 'oci:readonly:v1'),
        'skopeo copy (pull with a pull-only token)',
      );
      assert.equal((await readLayout(join(work, 'readonly'), 'v1')).manifestDigest, layout.manifestDigest);

      const push = await skopeo(
        work,
        'copy',
        '--dest-creds',
        reader,
        '--dest-tls-verify=false',
        'oci:layout:v1',
        `${image}:from-reader`,
      );
      assert.notEqual(push.code, 0, `a pull-only token pushed:\n${push.stdout}`);
      assert.match(push.stderr, /denied|unauthorized|lacks that scope/i);
      const listed = await skopeo(work, 'list-tags', '--creds', reader, '--tls-verify=false', image);
      ok(listed, 'skopeo list-tags (pull-only token)');
      assert.deepEqual((JSON.parse(listed.stdout) as { Tags: string[] }).Tags, ['v1']);
    });

    test('an immutable tag (--immutable prod/**) accepts the same image again but never another one', async () => {
      const prod = `docker://${server.host}/prod/app:v1`;
      const push = (ref: string) =>
        skopeo(work, 'copy', '--dest-creds', creds, '--dest-tls-verify=false', `oci:layout:${ref}`, prod);
      ok(await push('v1'), 'skopeo copy to prod/app:v1');
      ok(await push('v1'), 'skopeo copy of the same image to prod/app:v1 again');
      const moved = await push('v2');
      assert.notEqual(moved.code, 0, `an immutable tag moved:\n${moved.stdout}`);
      assert.match(moved.stderr, /immutable/i);
      const raw = await skopeo(work, 'inspect', '--raw', '--creds', creds, '--tls-verify=false', prod);
      ok(raw, 'skopeo inspect prod/app:v1');
      assert.equal(sha256(raw.stdoutBytes), layout.manifestDigest, 'the immutable tag still names the first image');
    });

    test('skopeo delete removes the manifest', async () => {
      ok(await skopeo(work, 'delete', '--creds', creds, '--tls-verify=false', `${image}:v1`), 'skopeo delete');
      const inspect = await skopeo(work, 'inspect', '--raw', '--creds', creds, '--tls-verify=false', `${image}:v1`);
      assert.notEqual(inspect.code, 0, `inspect still found the deleted manifest:\n${inspect.stdout}`);
      assert.match(inspect.stderr, /manifest unknown/i);
      const byDigest = await skopeo(
        work,
        'inspect',
        '--raw',
        '--creds',
        creds,
        '--tls-verify=false',
        `${image}@${layout.manifestDigest}`,
      );
      assert.notEqual(byDigest.code, 0, 'the manifest is still reachable by digest');
    });
  });
}
