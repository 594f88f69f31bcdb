import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Digest, digestOf, isErrorWithCode } from '../core/index.ts';
import { createLocalDriver, type LocalDriver, type LocalDriverOptions } from './local-driver.ts';
import { RuntimeError } from './runtime-error.ts';
import { createMemoryImages, helloImage, makeLayer } from './test-image.ts';
import type { InstanceSpec } from './types.ts';

const dirs: string[] = [];
const drivers: LocalDriver[] = [];
after(async () => {
  for (const d of drivers) await d.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
});

const RELEASE = digestOf('release') as Digest;
/** Keys in these tests are "<nonce>:<quota>"; "forged" fails verification. */
const verifyKey: LocalDriverOptions['verifyKey'] = (token) => {
  if (token === 'forged') throw new RuntimeError('START_FAILED', 'Cannot verify key: forged');
  const [nonce, quota] = token.split(':');
  return { nonce: nonce!, quota: Number(quota ?? 1) };
};

let seq = 0;
async function setup(options: Partial<LocalDriverOptions> = {}) {
  const stateDir = await mkdtemp(join(tmpdir(), 'fixity-driver-'));
  dirs.push(stateDir);
  const mem = createMemoryImages();
  const hello = await helloImage();
  const image = mem.addImage(hello.layers, hello.config);
  const warnings: string[] = [];
  const logger = { info() {}, error() {}, warn: (_: object, msg?: string) => void warnings.push(msg ?? '') };
  const driver = await createLocalDriver({ stateDir, images: mem.images, verifyKey, logger, ...options });
  drivers.push(driver);
  const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({
    id: `i${++seq}`,
    environment: 'prod',
    service: 'hello',
    release: RELEASE,
    image,
    configDigest: digestOf('config') as Digest,
    env: { GREETING: 'hi' },
    port: 8080,
    health: {
      readiness: { path: '/healthz', intervalMs: 50, timeoutMs: 500, failureThreshold: 3 },
      startupTimeoutMs: 5000,
    },
    provisioningKey: `nonce${seq}:1`,
    ...over,
  });
  return { stateDir, mem, image, driver, spec, warnings };
}

async function get(port: number, path = '/'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return res.text();
}

describe('createLocalDriver', () => {
  for (const sandbox of ['bwrap', 'none'] as const) {
    test(`start() runs hello (${sandbox}) on its port with only its own environment`, async () => {
      const envDump = await makeLayer([
        {
          name: 'app/env.js',
          content: `import { createServer } from 'node:http';
createServer((q, s) => s.end(JSON.stringify({ env: process.env, uid: process.getuid(), cwd: process.cwd() })))
  .listen(Number(process.env.PORT));
console.log('env listening');`,
        },
      ]);
      const { driver, spec, mem, warnings } = await setup({ sandbox });
      const hello = await helloImage();
      const image = mem.addImage([...hello.layers, envDump], {
        ...hello.config,
        Cmd: [],
        Entrypoint: ['node', '/app/env.js'],
      });
      const status = await driver.start(spec({ image }));
      assert.equal(status.sandboxed, sandbox === 'bwrap');
      assert.equal(warnings.includes('running without a sandbox: install bubblewrap'), sandbox === 'none');
      const ready = await driver.waitReady(status.id);
      assert.equal(ready.state, 'ready');
      const seen = JSON.parse(await get(status.address.port));
      const env = { ...seen.env };
      delete env.PWD; // bubblewrap's --chdir sets it
      assert.deepEqual(env, {
        PORT: String(status.address.port),
        GREETING: 'hi',
        FIXITY_RELEASE: RELEASE,
        FIXITY_INSTANCE: status.id,
        FIXITY_ENVIRONMENT: 'prod',
        // The image has no /etc/passwd: root's home is unknown, so HOME is "/" as under runc.
        HOME: '/',
      });
      if (sandbox === 'bwrap') {
        assert.equal(seen.uid, 1000);
        assert.equal(seen.cwd, '/app');
      }
      const lines = await driver.logs(status.id);
      assert.match(
        lines.at(-1) ?? '',
        new RegExp(
          `^\\S+Z env=prod release=${RELEASE.slice(7, 19)} image=${image.slice(7, 19)} instance=${status.id} env listening$`,
        ),
      );
      await driver.stop(status.id, { graceMs: 2000 });
      assert.equal(driver.status(status.id)?.state, 'stopped');
      assert.deepEqual(await driver.strays(), []);
    });
  }

  test('start() runs a named image user with the uid, primary gid and home of the image /etc/passwd', async () => {
    const refused: string[] = [];
    const { driver, spec, mem } = await setup({
      sandbox: 'bwrap',
      onRefused: (s, e) => void refused.push(`${s.id}:${(e as RuntimeError).code}`),
    });
    const hello = await helloImage([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:App:/app:/bin/sh\n' },
      { name: 'etc/group', content: 'root:x:0:\napp:x:2345:\n' },
      {
        name: 'app/ids.js',
        content: `import { createServer } from 'node:http';
createServer((q, s) => s.end(JSON.stringify([process.getuid(), process.getgid(), process.env.HOME]))).listen(Number(process.env.PORT));`,
      },
    ]);
    const config = { ...hello.config, Entrypoint: ['node', '/app/ids.js'] };
    const named = mem.addImage(hello.layers, { ...config, User: 'app' });
    const { id, address } = await driver.start(spec({ image: named }));
    await driver.waitReady(id);
    assert.deepEqual(JSON.parse(await get(address.port)), [1234, 2345, '/app']);
    await driver.stop(id, { graceMs: 2000 });

    const unknown = mem.addImage(hello.layers, { ...config, User: 'ghost' });
    await assert.rejects(
      driver.start(spec({ id: 'ghost', image: unknown })),
      (e) => isErrorWithCode(e, 'USER_UNKNOWN') && /user "ghost" is not in the image's \/etc\/passwd/.test(e.message),
    );
    assert.deepEqual(refused, ['ghost:USER_UNKNOWN']);
    assert.equal(driver.status('ghost'), undefined);
  });

  test('an interpreter from a checkout under /tmp is visible inside the sandbox (not hidden by its tmpfs /tmp)', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'fixity-interpreter-'));
    dirs.push(bin);
    await copyFile(process.execPath, join(bin, 'node'));
    await chmod(join(bin, 'node'), 0o755);
    const { driver, spec } = await setup({ sandbox: 'bwrap', hostBinaries: { node: join(bin, 'node') } });
    const started = await driver.start(spec());
    const ready = await driver.waitReady(started.id);
    assert.equal(ready.sandboxed, true);
    assert.match(await get(ready.address.port), /hi/);
    await driver.stop(started.id);
  });

  test('stop() kills a process that ignores SIGTERM after the grace period', async () => {
    const { driver, spec, mem } = await setup();
    const stubborn = await makeLayer([
      {
        name: 'app/stubborn.js',
        content: `process.on('SIGTERM', () => console.log('ignoring'));
require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));`,
      },
    ]);
    const image = mem.addImage([stubborn], { Entrypoint: ['node', '/app/stubborn.js'], WorkingDir: '/app' });
    const { id } = await driver.start(spec({ image }));
    await driver.waitReady(id);
    const t0 = Date.now();
    await driver.stop(id, { graceMs: 300 });
    assert.ok(Date.now() - t0 >= 300);
    assert.equal(driver.status(id)?.state, 'stopped');
    assert.ok((await driver.logs(id)).some((l) => l.endsWith(' ignoring')));
    await driver.stop(id); // idempotent
  });

  test('start() refuses a forged, replayed or over-quota key and reports each refusal', async () => {
    const refused: string[] = [];
    const { driver, spec } = await setup({
      onRefused: (s, e) => void refused.push(`${s.id}:${(e as RuntimeError).code}`),
    });
    await assert.rejects(driver.start(spec({ id: 'f', provisioningKey: 'forged' })));
    const first = await driver.start(spec({ id: 'a', provisioningKey: 'k:1' }));
    await assert.rejects(driver.start(spec({ id: 'a', provisioningKey: 'k:1' })), (e) =>
      isErrorWithCode(e, 'KEY_REPLAYED'),
    );
    await assert.rejects(driver.start(spec({ id: 'b', provisioningKey: 'k:1' })), (e) =>
      isErrorWithCode(e, 'KEY_QUOTA_EXCEEDED'),
    );
    assert.deepEqual(refused, ['f:START_FAILED', 'a:KEY_REPLAYED', 'b:KEY_QUOTA_EXCEEDED']);
    assert.deepEqual(
      driver.list().map((s) => s.id),
      ['a'],
    );
    await driver.stop(first.id);
  });

  test('verify() reports files written into the root, a killed process and a stray', async () => {
    const { driver, spec } = await setup();
    const { id, pid } = await driver.start(spec());
    await driver.waitReady(id);
    assert.deepEqual((await driver.verify(id)).findings, []);
    const root = join(dirs.at(-1)!, 'roots', spec().image.slice(7));
    await chmod(join(root, 'app'), 0o755);
    await writeFile(join(root, 'app', 'implant.js'), 'evil');
    const kinds = (await driver.verify(id)).findings.map((f) => `${f.kind} ${f.subject}`);
    assert.deepEqual(kinds, ['file-changed /app', 'file-added /app/implant.js']);
    process.kill(pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const after = (await driver.verify(id)).findings.map((f) => f.kind);
    assert.ok(after.includes('process-gone'));
    assert.equal(driver.status(id)?.state, 'exited');
    const stray = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)', join(root, 'app/server.js')]);
    await new Promise((r) => stray.once('spawn', r));
    assert.deepEqual(
      (await driver.strays()).map((s) => s.pid),
      [stray.pid],
    );
    stray.kill('SIGKILL');
  });

  test('a new driver adopts instances left running by a detached one, and gc removes what is unused', async () => {
    const { driver, spec, stateDir, mem } = await setup();
    const { id, address } = await driver.start(spec());
    await driver.waitReady(id);
    await driver.detach();
    const second = await createLocalDriver({ stateDir, images: mem.images, verifyKey });
    drivers.push(second);
    assert.equal(second.status(id)?.state, 'ready');
    assert.match(await get(address.port), /hello, immutable world|hi/);
    assert.deepEqual(await second.strays(), []);
    const otherDir = await mkdtemp(join(tmpdir(), 'fixity-other-'));
    dirs.push(otherDir);
    const fresh = await createLocalDriver({ stateDir: otherDir, images: mem.images, verifyKey });
    assert.deepEqual(await fresh.strays(), []);
    await second.stop(id, { graceMs: 2000 });
    assert.deepEqual(await second.gc(), { instances: 1, roots: 1 });
    assert.equal(second.list().length, 0);
  });

  test('an instance that never gets ready turns unhealthy and waitReady() rejects', async () => {
    const { driver, spec, mem } = await setup();
    const idle = await makeLayer([{ name: 'app/idle.js', content: 'setInterval(() => {}, 1000);' }]);
    const image = mem.addImage([idle], { Entrypoint: ['node', '/app/idle.js'], WorkingDir: '/app' });
    const s = spec({
      image,
      health: { readiness: { path: '/', intervalMs: 50, timeoutMs: 200, failureThreshold: 1 }, startupTimeoutMs: 400 },
    });
    const { id } = await driver.start(s);
    await assert.rejects(driver.waitReady(id), (e) => isErrorWithCode(e, 'NOT_READY'));
    assert.match(driver.status(id)?.reason ?? '', /not ready within 400ms/);
    await driver.quarantine(id, 'test');
    assert.equal(driver.status(id)?.state, 'quarantined');
    assert.deepEqual(await driver.gc(), { instances: 0, roots: 0 });
  });
});
