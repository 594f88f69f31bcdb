// Shared by the suites that deploy through the real CLI against a real server on the local runtime: the
// server with examples/hello built, pushed and promoted to `staging`, traffic loops, and the clean-up of
// instance processes (which outlive a killed server by design).
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestDatabase } from './databases.ts';
import { type CLIResult, ROOT, type ServerProcess, startServerProcess, tempDir } from './server-process.ts';

const PIPELINE = 'name: hello\nstages:\n  - name: build\n  - name: staging\n    from: [build]\n';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether nothing listens at `url` any more (a TCP connection is refused, not answered). */
export async function refused(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return false;
  } catch (err) {
    return (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
  }
}

/** The parsed `--json` output of a CLI call that must have succeeded. */
export function json<T = Record<string, unknown>>(r: CLIResult, what: string): T {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

export interface StagedHello {
  readonly server: ServerProcess;
  /** A scratch directory for spec files and the CLI's config. */
  readonly dir: string;
  /** examples/hello's image digest, promoted through `build` to `staging`. */
  readonly digest: string;
  cli(args: string[]): Promise<CLIResult>;
  /** Writes `yaml` and applies it as the environment spec. */
  apply<T = Record<string, unknown>>(yaml: string): Promise<T>;
  /** Stops the server, kills instances left running and drops the database. */
  close(): Promise<void>;
}

/** A server whose `hello` image sits in `staging`, ready to deploy (pipeline build → staging, no gates). */
export async function stageHello(
  database: TestDatabase,
  prefix: string,
  serverArgs: string[] = [],
): Promise<StagedHello> {
  let server: ServerProcess | undefined;
  try {
    server = await startServerProcess({ database, args: serverArgs });
    const running = server;
    const dir = await tempDir(prefix);
    const cli = (args: string[]) => running.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });
    const built = await cli(['build', join(ROOT, 'examples/hello'), '--push', `${running.host}/hello:1.0.0`, '--json']);
    const { digest } = json<{ digest: string }>(built, 'build');
    await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
    json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline apply');
    for (const stage of ['build', 'staging']) {
      json(await cli(['promote', `${running.host}/hello@${digest}`, '--to', stage, '--json']), `promote ${stage}`);
    }
    return {
      server: running,
      dir,
      digest,
      cli,
      async apply<T>(yaml: string) {
        await writeFile(join(dir, 'env.yaml'), yaml);
        return json<T>(await cli(['env', 'apply', join(dir, 'env.yaml'), '--json']), 'env apply');
      },
      close: () => shutDown(running, database),
    };
  } catch (err) {
    await shutDown(server, database);
    throw err;
  }
}

async function shutDown(server: ServerProcess | undefined, database: TestDatabase): Promise<void> {
  if (server?.running) await server.stop().catch(() => undefined);
  if (server === undefined) return database.cleanup();
  await killInstances(server.dataDir);
  await server.cleanup();
}

/** Clients looping GETs through a router; every answer is kept with the release that served it (0: no answer). */
export function load(url: string, clients = 4) {
  const results: Array<{ status: number; release: string | null }> = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        results.push({ status: res.status, release: res.headers.get('x-fixity-release') });
      } catch {
        results.push({ status: 0, release: null });
      }
      await sleep(5);
    }
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

/** Instance processes outlive a killed server by design; a test must not leave any behind. */
export async function killInstances(dataDir: string): Promise<void> {
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dataDir)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
  }
}
