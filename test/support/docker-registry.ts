// Starts Debian's docker-registry (distribution 2.8, the reference registry) on a free port for tests that
// check Fixity's client against a registry it did not write. Under CI=true a missing binary fails.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export function dockerRegistryAvailable(): boolean {
  if (existsSync(DOCKER_REGISTRY)) return true;
  if (process.env.CI === 'true')
    throw new Error(
      `Cannot run the reference-registry tests: ${DOCKER_REGISTRY} is missing (apt-get install docker-registry)`,
    );
  return false;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function startDockerRegistry(): Promise<{ host: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-distribution-'));
  const port = await freePort();
  const config = `version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: ${join(dir, 'data')} }
  delete: { enabled: true }
http: { addr: 127.0.0.1:${port} }
`;
  await writeFile(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn(DOCKER_REGISTRY, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(50);
  }
  return {
    host,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
