// A service dropped from an environment spec is removed completely, through the real CLI against a real
// server on the local runtime: its instances leave the router and stop, its router closes (the port is
// released), status no longer reports it, the ledger records each step, and the service that stays loses
// no request meanwhile.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { json, load, refused, type StagedHello, sleep, stageHello } from './support/deploy-kit.ts';
import type { ServerProcess } from './support/server-process.ts';

interface ServiceView {
  service: string;
  url: string | null;
  currentRelease: string | null;
  instances: Array<{ id: string; state: string }>;
}

interface StatusView {
  services: ServiceView[];
}

function service(name: string, greeting: string): string {
  return `  - name: ${name}
    image: { repository: hello, digest: "DIGEST" }
    replicas: 2
    env: { GREETING: "${greeting}" }
    health:
      readiness: { path: /healthz, intervalMs: 100, timeoutMs: 1000, failureThreshold: 2 }
      startupTimeoutMs: 20000
`;
}

function environment(digest: string, services: string[]): string {
  return `apiVersion: fixity.dev/v1\nkind: Environment\nname: staging\nstage: staging\nservices:\n${services.join('')}`.replaceAll(
    'DIGEST',
    digest,
  );
}

/** The host pids of an instance: the process and, when sandboxed, bubblewrap's init. */
async function pidsOf(dataDir: string, id: string): Promise<number[]> {
  const file = join(dataDir, 'runtime', 'instances', id, 'instance.json');
  const record = JSON.parse(await readFile(file, 'utf8')) as { status: { pid: number }; sandboxInit: number | null };
  return [record.status.pid, ...(record.sandboxInit === null ? [] : [record.sandboxInit])];
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`removing a service from an environment (${database.name})`, { timeout: 300_000 }, () => {
    let staged: StagedHello;
    let server: ServerProcess;
    let digest: string;
    const cli = (args: string[]) => staged.cli(args);
    const status = async (): Promise<StatusView> =>
      json<StatusView>(await cli(['rollout', 'status', 'staging', '--json']), 'status');
    const apply = (yaml: string) => staged.apply<{ digest: string; version: number }>(yaml);
    /** Polls until `check` holds, or fails with `what` and the server's recent logs. */
    async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await check()) return;
        await sleep(200);
      }
      assert.fail(`${what} did not happen within ${ms} ms\n${server.logs().slice(-3000)}`);
    }

    before(async () => {
      staged = await stageHello(database, 'fixity-remove-');
      ({ server, digest } = staged);
    });
    after(() => (staged === undefined ? database.cleanup() : staged.close()));

    test('a service dropped from the spec is drained, stopped, its router closed and forgotten', async () => {
      await apply(environment(digest, [service('hello', 'kept'), service('bye', 'removed')]));
      const deployed = await cli(['deploy', 'staging', '--wait', '--timeout', '120']);
      assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
      let both: StatusView = { services: [] };
      await until('both services serving', async () => {
        both = await status();
        return both.services.every((s) => s.instances.filter((i) => i.state === 'ready').length === 2);
      });
      const kept = both.services.find((s) => s.service === 'hello') as ServiceView;
      const gone = both.services.find((s) => s.service === 'bye') as ServiceView;
      for (const [s, greeting] of [
        [kept, 'kept'],
        [gone, 'removed'],
      ] as const) {
        const res = await fetch(s.url as string);
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { message: string }).message, greeting);
      }
      const gonePids = (await Promise.all(gone.instances.map((i) => pidsOf(server.dataDir, i.id)))).flat();

      const traffic = load(kept.url as string);
      let applied: { digest: string; version: number };
      let statuses: number[];
      try {
        applied = await apply(environment(digest, [service('hello', 'kept')]));
        await until('the removed router refuses connections', () => refused(gone.url as string));
        await sleep(500); // the kept service keeps serving after the removal, too
      } finally {
        statuses = (await traffic.stop()).map((r) => r.status);
      }

      // (a) the port is released: a connection is refused, not answered with a 503
      assert.equal(await refused(gone.url as string), true);
      // (b) every process of the removed instances is gone
      await until('the removed instances stopped', async () => gonePids.every((pid) => !existsSync(`/proc/${pid}`)));
      // (c) the kept service is untouched: same instances, still serving, no request failed
      assert.ok(statuses.length > 0);
      assert.deepEqual(
        statuses.filter((s) => s !== 200),
        [],
        'no request to the kept service fails',
      );
      const after = await status();
      assert.deepEqual(
        after.services.map((s) => s.service),
        ['hello'],
      );
      const still = after.services[0] as ServiceView;
      assert.equal(still.url, kept.url);
      assert.deepEqual(still.instances.map((i) => i.id).sort(), kept.instances.map((i) => i.id).sort());
      assert.equal(((await (await fetch(still.url as string)).json()) as { message: string }).message, 'kept');
      // (d) status reports no router of the removed service
      assert.ok(!JSON.stringify(after).includes(gone.url as string), 'status names no dead router');
      const unknown = await cli(['rollout', 'status', 'staging', 'bye', '--json']);
      assert.notEqual(unknown.code, 0, 'the removed service is unknown');
      const error = (JSON.parse(unknown.stderr) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'NOT_FOUND');
      assert.match(error.message, /has no service "bye"/);

      // The ledger records the removal (under the removed release and the environment version that made
      // it) and each instance it stopped.
      let events: Array<{ event: string; service?: string; instance?: string; envVersion?: number }> = [];
      await until('the removal reaches the ledger', async () => {
        const res = await fetch(`${server.url}/api/v1/ledger/digests/${gone.currentRelease}`, {
          headers: { authorization: server.auth() },
        });
        const body = (await res.json()) as { items: Array<{ entry: (typeof events)[number] }> };
        events = body.items.map((i) => i.entry);
        return events.some((e) => e.event === 'deploy.service.removed');
      });
      const removed = events.find((e) => e.event === 'deploy.service.removed');
      assert.equal(removed?.service, 'bye');
      assert.equal(removed?.envVersion, applied.version);
      assert.deepEqual(
        events
          .filter((e) => e.event === 'deploy.instance.stopped')
          .map((e) => e.instance)
          .sort(),
        gone.instances.map((i) => i.id).sort(),
      );
    });
  });
}
