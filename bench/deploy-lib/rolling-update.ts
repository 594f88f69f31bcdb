/**
 * Time from a deploy request to a finished 3-replica rolling update on the local (bubblewrap) runtime of a
 * real server: `POST /environments/staging/deployments` until the status shows the rollout `completed`,
 * polled every 20 ms. The health-check delay on its critical path — the last-ready new instance's start to
 * its first passing readiness, as seen by the poller — is reported beside it; raw − health is Fixity's part.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FixityServer, startServer } from './fixity-server.ts';
import { log, machineBusy, onCleanup } from './processes.ts';
import { type Sample, sample } from './sandbox-start.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const PIPELINE = 'name: hello\nstages:\n  - name: build\n  - name: staging\n    from: [build]\n';
const POLL_MS = 20;
export const READINESS_INTERVAL_MS = 50;

const environment = (digest: string, greeting: string) => `apiVersion: fixity.dev/v1
kind: Environment
name: staging
stage: staging
services:
  - name: hello
    image: { repository: hello, digest: "${digest}" }
    replicas: 3
    port: 8080
    env: { GREETING: "${greeting}" }
    health:
      readiness: { path: /healthz, intervalMs: ${READINESS_INTERVAL_MS}, timeoutMs: 1000, failureThreshold: 2 }
      startupTimeoutMs: 20000
    strategy:
      rolling: { maxSurge: 3, maxUnavailable: 0 }
`;

interface InstanceView {
  id: string;
  release: string;
  state: string;
  sandboxed: boolean;
  startedAt: string;
}
interface ServiceView {
  rollout: {
    id: string;
    status: string;
    target: string;
    steps: Array<{ at: string; action: string; result: string; detail: string }>;
  } | null;
  instances: InstanceView[];
}

export interface RolloutTiming {
  /** POST → status `completed` as seen by the poller. */
  rawMs: number;
  /**
   * The health-check delay on the critical path: for the new instance seen ready last, its start → first seen
   * ready (the app's own start in the sandbox plus the wait for a passing readiness probe).
   */
  healthMs: number;
  /** The same per new instance, averaged. */
  healthMeanMs: number;
  /** POST → first and → last new instance started (API, reconciler, provisioning key, unpack check, spawn). */
  toFirstStartMs: number;
  toLastStartMs: number;
  /** Last new instance seen ready → completed (traffic shift, old instances stopped, rollout recorded). */
  afterReadyMs: number;
  sandboxed: boolean;
  steps: Array<{ at: string; action: string; result: string; detail: string }>;
}

export interface RollingResult {
  initialMs: number;
  rollouts: RolloutTiming[];
  raw: Sample;
  health: Sample;
  excludingHealth: Sample;
  healthMean: Sample;
  toFirstStart: Sample;
  toLastStart: Sample;
  afterReady: Sample;
  leftover: number[];
  machine: { busyCores: number; load1: number };
}

const status = async (server: FixityServer): Promise<ServiceView> =>
  (await server.api<{ services: ServiceView[] }>('GET', '/environments/staging/status?service=hello')).body
    .services[0] as ServiceView;

/** Sends the deploy request and polls until the rollout it started completes. */
async function timedRollout(server: FixityServer): Promise<RolloutTiming> {
  const wall0 = Date.now();
  const t0 = performance.now();
  const posted = await server.api<{ items: Array<{ result: string; rollout: string | null; release: string }> }>(
    'POST',
    '/environments/staging/deployments',
    { service: 'hello' },
  );
  const item = posted.body.items[0];
  if (item?.result !== 'started' || item.rollout === null) {
    throw new Error(`Cannot time the rollout: the deploy answered ${JSON.stringify(posted.body)}`);
  }
  const readySeen = new Map<string, number>();
  const started = new Map<string, number>();
  for (;;) {
    const polled = performance.now();
    const view = await status(server);
    const now = performance.now();
    for (const i of view.instances) {
      if (i.release !== item.release) continue;
      // startedAt is the server's wall clock; map it onto this process's monotonic clock via wall0/t0.
      started.set(i.id, t0 + (Date.parse(i.startedAt) - wall0));
      if (i.state === 'ready' && !readySeen.has(i.id)) readySeen.set(i.id, now);
    }
    const r = view.rollout;
    if (r !== null && r.id === item.rollout && r.status !== 'active') {
      if (r.status !== 'completed') throw new Error(`Cannot time the rollout: it ended ${r.status}`);
      const health = [...readySeen].map(([id, at]) => ({ at, delay: at - (started.get(id) ?? Number.NaN) }));
      const last = health.reduce((a, b) => (b.at > a.at ? b : a));
      return {
        rawMs: now - t0,
        healthMs: last.delay,
        healthMeanMs: health.reduce((sum, h) => sum + h.delay, 0) / health.length,
        toFirstStartMs: Math.min(...started.values()) - t0,
        toLastStartMs: Math.max(...started.values()) - t0,
        afterReadyMs: now - last.at,
        sandboxed: view.instances.every((i) => i.sandboxed),
        steps: r.steps,
      };
    }
    if (now - t0 > 60_000) throw new Error('Cannot time the rollout: not completed within 60 s');
    await new Promise((res) => setTimeout(res, Math.max(0, POLL_MS - (performance.now() - polled))));
  }
}

export async function measureRollingUpdate(work: string, count: number): Promise<RollingResult> {
  const server = await startServer(work);
  let stopped = false;
  onCleanup(async () => {
    if (!stopped) await server.stop();
  });
  log('building and pushing examples/hello, pipeline build → staging, promoting to both');
  const built = JSON.parse(
    await server.cli(['build', join(repoRoot, 'examples/hello'), '--push', `${server.host}/hello:1.0.0`, '--json']),
  ) as { digest: string };
  writeFileSync(join(work, 'pipeline.yaml'), PIPELINE);
  await server.cli(['pipeline', 'apply', join(work, 'pipeline.yaml'), '--json']);
  for (const stage of ['build', 'staging']) {
    await server.cli(['promote', `${server.host}/hello@${built.digest}`, '--to', stage, '--json']);
  }
  const apply = async (greeting: string) => {
    writeFileSync(join(work, 'env.yaml'), environment(built.digest, greeting));
    await server.cli(['env', 'apply', join(work, 'env.yaml'), '--json']);
  };
  log('first deploy: 3 replicas (unpacks the image once)');
  await apply('v0');
  const initial = await timedRollout(server);
  const busy = machineBusy();
  const rollouts: RolloutTiming[] = [];
  for (let i = 1; i <= count; i++) {
    await apply(`v${i}`);
    const t = await timedRollout(server);
    log(`rolling update ${i}/${count}: ${t.rawMs.toFixed(0)} ms (health ${t.healthMs.toFixed(0)} ms)`);
    rollouts.push(t);
  }
  const machine = busy();
  log('stopping the server (it stops its instances)');
  const leftover = await server.stop();
  stopped = true;
  const pick = (f: (t: RolloutTiming) => number) => sample(rollouts.map(f));
  return {
    initialMs: initial.rawMs,
    rollouts,
    raw: pick((t) => t.rawMs),
    health: pick((t) => t.healthMs),
    excludingHealth: pick((t) => t.rawMs - t.healthMs),
    healthMean: pick((t) => t.healthMeanMs),
    toFirstStart: pick((t) => t.toFirstStartMs),
    toLastStart: pick((t) => t.toLastStartMs),
    afterReady: pick((t) => t.afterReadyMs),
    leftover,
    machine,
  };
}
