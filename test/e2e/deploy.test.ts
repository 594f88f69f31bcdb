// Deployments end to end on the local runtime, through the real CLI against a real server: a 3-replica
// rollout, a canary that fails analysis and rolls back without failing clients outside its share, a healthy
// canary promoted with the old instances collected, blue-green with an instant rollback, an instance killed
// and replaced, a file changed in a root (drift: quarantined and replaced), the server killed mid-rollout
// and resuming, and vetoed or unpromoted digests refused.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { renderedDOM } from '../support/browser.ts';
import { testDatabases } from '../support/databases.ts';
import { json, load, type StagedHello, sleep, stageHello } from '../support/deploy-kit.ts';
import { type ServerProcess, tempDir } from '../support/server-process.ts';
import { makeImage, pushImage } from './registry-client.ts';

interface ServiceView {
  url: string | null;
  currentRelease: string | null;
  previousRelease: string | null;
  weights: Record<string, number>;
  rollout: {
    id: string;
    status: string;
    phase: string | null;
    target: string;
    steps: Array<{ action: string; result: string; detail: string }>;
  } | null;
  instances: Array<{ id: string; release: string; state: string; sandboxed: boolean }>;
}

function environment(opts: {
  digest: string;
  greeting: string;
  strategy: string;
  failRate?: string;
  secrets?: string;
}): string {
  return `apiVersion: fixity.dev/v1
kind: Environment
name: staging
stage: staging
services:
  - name: hello
    image: { repository: hello, digest: "${opts.digest}" }
    replicas: 3
    port: 8080
    env: { GREETING: "${opts.greeting}"${opts.failRate === undefined ? '' : `, FAIL_RATE: "${opts.failRate}"`} }
${opts.secrets === undefined ? '' : `    secrets: ${opts.secrets}\n`}    health:
      readiness: { path: /healthz, intervalMs: 100, timeoutMs: 1000, failureThreshold: 2 }
      startupTimeoutMs: 20000
    strategy:
${opts.strategy}
`;
}

const CANARY = `      canary:
        steps:
          - setWeight: 33
          - analysis: { intervalMs: 1500, count: 2, failureLimit: 0, minRequests: 30, thresholds: { successRate: 0.95 }, compare: false }`;

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`deployments on the local runtime (${database.name})`, { timeout: 600_000 }, () => {
    let staged: StagedHello;
    let server: ServerProcess;
    let digest: string;
    const cli = (args: string[]) => staged.cli(args);
    const status = async (): Promise<ServiceView> =>
      json<{ services: ServiceView[] }>(await cli(['rollout', 'status', 'staging', 'hello', '--json']), 'status')
        .services[0] as ServiceView;
    const apply = async (yaml: string) => {
      await staged.apply(yaml);
    };
    /** Polls until `check` holds (or fails the test with the last status after `ms`). */
    async function until(what: string, check: (s: ServiceView) => boolean, ms = 60_000): Promise<ServiceView> {
      const deadline = Date.now() + ms;
      let last: ServiceView | undefined;
      while (Date.now() < deadline) {
        last = await status();
        if (check(last)) return last;
        await sleep(250);
      }
      assert.fail(
        `${what} did not happen within ${ms} ms; last status:\n${JSON.stringify(last, null, 2)}\n${server.logs().slice(-3000)}`,
      );
    }

    before(async () => {
      staged = await stageHello(database, 'fixity-deploy-');
      ({ server, digest } = staged);
    });
    after(() => (staged === undefined ? database.cleanup() : staged.close()));

    test('a digest never promoted to the stage is refused with exit 3', async () => {
      const other = makeImage('deploy-unpromoted');
      const pushed = await pushImage({ url: server.url, auth: server.auth() }, 'hello', 'stray', other);
      assert.equal(pushed.status, 201);
      await apply(environment({ digest: other.digest, greeting: 'never', strategy: CANARY }));
      const refused = await cli(['deploy', 'staging']);
      assert.equal(refused.code, 3, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /never promoted to stage "staging"/);
    });

    test('v1 rolls out with 3 sandboxed replicas behind the router', async () => {
      await apply(environment({ digest, greeting: 'v1', strategy: CANARY }));
      const done = await cli(['deploy', 'staging', '--wait', '--timeout', '120']);
      assert.equal(done.code, 0, done.stdout + done.stderr);
      const s = await status();
      assert.equal(s.instances.filter((i) => i.state === 'ready').length, 3);
      assert.ok(
        s.instances.every((i) => i.sandboxed),
        'bubblewrap is installed here, so every instance is sandboxed',
      );
      const res = await fetch(s.url as string);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { message: string }).message, 'v1');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /fixity_router_requests_total\{[^}]*environment="staging"[^}]*service="hello"/);
      assert.match(metrics, /fixity_router_request_duration_seconds_bucket/);
    });

    test('a canary failing 20% of requests fails analysis and rolls back; no failure outside its share', async () => {
      const before = await status();
      const stable = before.currentRelease as string;
      await apply(environment({ digest, greeting: 'v2', strategy: CANARY, failRate: '0.2' }));
      const traffic = load(before.url as string);
      const deployed = await cli(['deploy', 'staging', '--wait', '--timeout', '120']);
      const results = await traffic.stop();
      assert.equal(deployed.code, 6, `the rollout must not complete:\n${deployed.stdout}${deployed.stderr}`);
      const s = await until(
        'rollback',
        (v) => v.rollout?.status === 'rolledBack' && v.instances.every((i) => i.release === stable),
      );
      assert.equal(s.currentRelease, stable);
      assert.ok(s.rollout?.steps.some((st) => st.action === 'analysis' && st.result === 'failed'));
      const failures = results.filter((r) => r.status !== 200);
      assert.ok(failures.length > 0, 'the canary did fail some requests');
      assert.ok(
        failures.every((f) => f.release !== null && f.release !== stable),
        `only the canary may fail: ${JSON.stringify(failures.slice(0, 5))}`,
      );
      assert.ok(failures.length / results.length < 0.2, 'failures stay within the canary share');
      const holds = (await (
        await fetch(`${server.url}/api/v1/holds`, { headers: { authorization: `Bearer ${server.token}` } })
      ).json()) as { items: Array<{ stage: string; reason: string }> };
      assert.ok(
        holds.items.some((h) => h.stage === 'staging' && /rolled back/.test(h.reason)),
        'automatic rollback holds the stage so auto-promotion does not redo it',
      );
      // The dashboard draws the rollout's analysis windows, the failed one red.
      const dom = renderedDOM(`${server.url}/#token=${server.token}`, join(await tempDir('fixity-deploy-ui-'), 'p'));
      assert.match(
        dom,
        /data-service="hello"[\s\S]*?<div class="runs"><small>analysis <\/small>[\s\S]*?data-run="failed"/,
      );
    });

    test('a healthy canary is promoted and the old instances are collected', async () => {
      const before = await status();
      await apply(environment({ digest, greeting: 'v3', strategy: CANARY }));
      const traffic = load(before.url as string); // analysis needs requests to judge the canary by
      const done = await cli(['deploy', 'staging', '--wait', '--timeout', '120']);
      const results = await traffic.stop();
      assert.equal(done.code, 0, done.stdout + done.stderr);
      assert.deepEqual(
        results.filter((r) => r.status !== 200),
        [],
        'no request fails while a healthy canary is promoted',
      );
      const s = await until('old instances collected', (v) => v.instances.every((i) => i.release === v.currentRelease));
      assert.notEqual(s.currentRelease, before.currentRelease);
      assert.equal(s.previousRelease, before.currentRelease);
      assert.equal(((await (await fetch(s.url as string)).json()) as { message: string }).message, 'v3');
    });

    test('rollback to a release no longer running is a new rollout, and holds the stage', async () => {
      const before = await status();
      const rolled = json<{ mode: string; release: string; held: boolean; rollout: string }>(
        await cli(['rollback', 'staging', 'hello', '--reason', 'v3 misbehaves', '--json']),
        'rollback',
      );
      assert.equal(rolled.mode, 'rollout');
      assert.equal(rolled.release, before.previousRelease);
      assert.equal(rolled.held, true);
      // Attached to later by its id: each step once, as it happens, then the outcome.
      const waited = await cli(['run', 'wait', rolled.rollout, '--timeout', '2m']);
      assert.equal(waited.code, 0, waited.stdout + waited.stderr);
      assert.match(waited.stdout, /^hello {2}✔ \d\d:\d\d:\d\d /m);
      assert.match(waited.stdout, /✔ rollout complete\n$/);
      const lines = waited.stdout.split('\n').filter((l) => l.startsWith('hello  '));
      assert.equal(new Set(lines).size, lines.length, 'no step is printed twice');
      const shown = json<{ kind: string; environment: string; service: string; status: string; target: string }>(
        await cli(['run', 'show', rolled.rollout, '--json']),
        'run show',
      );
      assert.deepEqual(
        [shown.kind, shown.environment, shown.service, shown.status, shown.target],
        ['Rollout', 'staging', 'hello', 'completed', rolled.release],
      );
      const unknown = await cli(['run', 'wait', 'no-such-rollout-id']);
      assert.equal(unknown.code, 1, unknown.stdout + unknown.stderr);
      assert.match(unknown.stderr, /Cannot find rollout "no-such-rollout-id"/);
      const s = await until(
        'rolled back',
        (v) => v.rollout?.status === 'completed' && v.currentRelease === rolled.release,
      );
      assert.equal(((await (await fetch(s.url as string)).json()) as { message: string }).message, 'v1');
      await until('v3 collected', (v) => v.instances.every((i) => i.release === rolled.release));
    });

    test('blue-green switches at once, and rollback is instant while the old release is warm', async () => {
      const v3 = (await status()).currentRelease;
      const greeting = ((await (await fetch((await status()).url as string)).json()) as { message: string }).message;
      await apply(
        environment({
          digest,
          greeting: 'v4',
          strategy: '      blueGreen: { autoPromote: true, scaleDownDelayMs: 60000 }',
        }),
      );
      const done = await cli(['deploy', 'staging', '--wait', '--timeout', '120']);
      assert.equal(done.code, 0, done.stdout + done.stderr);
      const s = await status();
      assert.equal(((await (await fetch(s.url as string)).json()) as { message: string }).message, 'v4');
      const rolled = json<{ mode: string }>(await cli(['rollback', 'staging', 'hello', '--json']), 'rollback');
      assert.equal(rolled.mode, 'instant');
      const res = await fetch(s.url as string);
      assert.equal(((await res.json()) as { message: string }).message, greeting, 'served by the warm release at once');
      assert.equal((await status()).currentRelease, v3);
    });

    test('kill -9 of an instance: it is replaced', async () => {
      const s = await until('3 ready', (v) => v.instances.filter((i) => i.state === 'ready').length === 3);
      const victim = s.instances[0] as { id: string };
      const info = JSON.parse(
        await readFile(join(server.dataDir, 'runtime', 'instances', victim.id, 'instance.json'), 'utf8'),
      ) as { status: { pid: number } };
      process.kill(info.status.pid, 'SIGKILL');
      await until(
        'a replacement',
        (v) =>
          !v.instances.some((i) => i.id === victim.id && i.state === 'ready') &&
          v.instances.filter((i) => i.state === 'ready').length === 3,
      );
    });

    test('a file written into an instance root is drift: quarantined and replaced within 10 s', async () => {
      const s = await until('3 ready', (v) => v.instances.filter((i) => i.state === 'ready').length === 3);
      const roots = join(server.dataDir, 'runtime', 'roots');
      const dirs = (await readdir(roots)).filter((d) => !d.includes('.'));
      for (const d of dirs) await writeFile(join(roots, d, 'app', 'backdoor.js'), 'evil()').catch(() => undefined);
      const started = Date.now();
      await until(
        'drift replaced',
        (v) => v.instances.filter((i) => i.state === 'ready' && !s.instances.some((o) => o.id === i.id)).length === 3,
        10_000,
      );
      assert.ok(Date.now() - started <= 10_000);
      const drift = json<{ recorded: Array<{ findings: Array<{ kind: string; subject: string }> }> }>(
        await cli(['drift', 'staging', '--json']),
        'drift',
      );
      const dom = renderedDOM(`${server.url}/#token=${server.token}`, join(await tempDir('fixity-drift-ui-'), 'p'));
      assert.match(
        dom,
        /data-env="staging"[\s\S]*?<ul class="drift" data-drift="\d"[\s\S]*?Δ hello [^<]*file-added [^<]*backdoor/,
      );
      const recorded = (await (
        await fetch(`${server.url}/api/v1/environments/staging/drift?live=false`, {
          headers: { authorization: `Bearer ${server.token}` },
        })
      ).json()) as { checked: unknown[]; recorded: unknown[] };
      assert.deepEqual(recorded.checked, [], 'live=false checks no instance');
      assert.ok(recorded.recorded.length > 0);
      assert.ok(
        drift.recorded.some((r) => r.findings.some((f) => f.kind === 'file-added' && f.subject.includes('backdoor'))),
      );
    });

    test('the server killed mid-rollout resumes it after a restart', async () => {
      await apply(
        environment({
          digest,
          greeting: 'v5',
          strategy: `      canary:\n        steps:\n          - setWeight: 33\n          - pause: { durationMs: 3000 }`,
        }),
      );
      const deployed = await cli(['deploy', 'staging']);
      assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
      const id = /\(rollout ([\w-]+), release /.exec(deployed.stdout)?.[1];
      assert.ok(id !== undefined, `deploy names the rollout it started: ${deployed.stdout}`);
      assert.match(deployed.stderr, new RegExp(`Next: fixity run wait ${id}\n`));
      await until(
        'canary paused',
        (v) => v.rollout?.status === 'active' && (v.rollout.phase === 'paused' || Object.keys(v.weights).length === 2),
      );
      await server.kill();
      await server.restart();
      const waited = await cli(['run', 'wait', id, '--timeout', '90s']);
      assert.equal(waited.code, 0, waited.stdout + waited.stderr);
      const s = await until('resumed and completed', (v) => v.rollout?.status === 'completed' && v.rollout.id === id);
      assert.equal(((await (await fetch(s.url as string)).json()) as { message: string }).message, 'v5');
    });

    test('a release with secret references waits for a resolver; no instance starts without its secrets', async () => {
      await apply(
        environment({
          digest,
          greeting: 'v6',
          strategy: CANARY,
          secrets: '[{ name: DB_PASSWORD, ref: "vault://kv/db#password" }]',
        }),
      );
      json(await cli(['deploy', 'staging', '--json']), 'deploy');
      const s = await until('the refusal is recorded', (v) =>
        (v.rollout?.steps ?? []).some((st) => st.action === 'instance.created' && st.result === 'failed'),
      );
      const failed = s.rollout?.steps.find((st) => st.action === 'instance.created' && st.result === 'failed');
      assert.match(failed?.detail ?? '', /needs secrets DB_PASSWORD and no secret resolver is configured/);
      json(await cli(['rollout', 'abort', 'staging', 'hello', '--json']), 'abort');
      await until('aborted', (v) => v.rollout?.status === 'aborted');
    });

    test('a vetoed digest is refused for deploy, and for new instances', async () => {
      await apply(environment({ digest, greeting: 'v6', strategy: CANARY }));
      json(await cli(['veto', `${server.host}/hello@${digest}`, '--reason', 'CVE-2026-0001', '--json']), 'veto');
      const refused = await cli(['deploy', 'staging']);
      assert.equal(refused.code, 3, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /vetoed/);
      json(await cli(['veto', `${server.host}/hello@${digest}`, '--lift', '--json']), 'lift');
    });
  });
}
