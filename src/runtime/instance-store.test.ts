import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Digest, digestOf } from '../core/index.ts';
import { createInstanceStore, type InstanceRecord, newLive } from './instance-store.ts';
import type { InstanceState } from './types.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function record(id: string): InstanceRecord {
  const d = digestOf(id) as Digest;
  // What the record and its status both say of the instance.
  const same = { id, environment: 'prod', service: 'hello', release: d, image: d, configDigest: d };
  return {
    ...same,
    env: {},
    port: 8080,
    health: { startupTimeoutMs: 1000 },
    argv: ['node', 'server.js'],
    sandboxInit: null,
    status: {
      ...same,
      state: 'starting',
      address: { host: '127.0.0.1', port: 1 },
      pid: 1,
      sandboxed: false,
      startedAt: new Date(0).toISOString(),
      stoppedAt: null,
      exitCode: null,
      reason: null,
    },
  };
}

test('state changes in a burst are written one after another: instance.json ends with the last, and nothing fails', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-instances-'));
  dirs.push(dir);
  const errors: unknown[] = [];
  const logger = { info() {}, warn() {}, error: (o: object) => void errors.push(o) };
  const store = createInstanceStore(dir, logger);
  const live = newLive(record('a'));
  await mkdir(store.dirOf('a'));
  const states: InstanceState[] = ['starting', 'unhealthy', 'ready'];
  for (let i = 0; i < 60; i++) store.setState(live, { state: states[i % 3]!, reason: `change ${i}` });
  await live.saved;
  const saved = JSON.parse(await readFile(join(store.dirOf('a'), 'instance.json'), 'utf8')) as InstanceRecord;
  assert.equal(saved.status.reason, 'change 59');
  assert.equal(saved.status.state, 'ready');
  assert.deepEqual(errors, []);
  assert.deepEqual(await readdir(store.dirOf('a')), ['instance.json']);
});
