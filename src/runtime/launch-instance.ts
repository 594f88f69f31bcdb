import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { DriverContext } from './driver-context.ts';
import { type InstanceRecord, newLive, type Spec } from './instance-store.ts';
import { type ExitInfo, watchInstance } from './instance-watch.ts';
import { descendantsOf, parentTable } from './process-table.ts';
import { RuntimeError } from './runtime-error.ts';
import { planLaunch } from './sandbox.ts';
import type { InstanceStatus } from './types.ts';

/**
 * Starting an instance: unpack its image, pick a free port, plan the command (under bubblewrap when the host
 * has it), spawn it detached with its output to a file, then register, save and watch it.
 */

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function envMap(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** The first child `pid` forks (bubblewrap's namespace init), waiting up to a second for it. */
async function firstChild(pid: number): Promise<number | null> {
  for (let i = 0; i < 50; i++) {
    const child = descendantsOf(pid, await parentTable())[0];
    if (child !== undefined) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** Unpacks, spawns and registers an instance whose key was already checked; resolves once it runs. */
export async function launchInstance(ctx: DriverContext, spec: Spec): Promise<InstanceStatus> {
  const { host, logger, unpacker } = ctx;
  const root = await unpacker.unpack(spec.image);
  const support = ctx.sandboxSupport();
  const port = await freePort(host);
  const env: Record<string, string> = {
    ...envMap(root.config.env),
    ...spec.env,
    PORT: String(port),
    FIXITY_RELEASE: spec.release,
    FIXITY_INSTANCE: spec.id,
    FIXITY_ENVIRONMENT: spec.environment,
  };
  const argv = [...root.config.entrypoint, ...root.config.cmd];
  if (argv.length === 0) throw new RuntimeError('START_FAILED', 'Cannot start: the image has no entrypoint or cmd');
  const plan = await planLaunch({
    root: root.dir,
    argv,
    env,
    workingDir: root.config.workingDir,
    user: root.config.user,
    hostBinaries: ctx.hostBinaries,
    support: await support,
  });
  for (const note of plan.notes) logger.warn({ instance: spec.id }, note);
  const dir = ctx.dirOf(spec.id);
  await mkdir(dir, { recursive: true });
  const fd = openSync(join(dir, 'output'), 'a');
  let child: ChildProcess;
  try {
    child = spawn(plan.argv[0]!, plan.argv.slice(1), {
      cwd: plan.cwd,
      env: plan.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (err) {
    throw new RuntimeError('START_FAILED', `Cannot start ${spec.id}: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(fd);
  }
  // Until the instance is registered, strays() must not take its process for an unknown one.
  if (child.pid !== undefined) ctx.launching.add(child.pid);
  // Listen at once: the process may exit before the instance is registered.
  const childExit = new Promise<ExitInfo>((resolve) => child.once('exit', (code, sig) => resolve([code, sig])));
  const now = ctx.clock.now().toISOString();
  const record: InstanceRecord = {
    ...spec,
    rootDir: root.dir,
    rootMeta: unpacker.paths(spec.image).meta,
    argv: [...plan.argv],
    sandboxInit: plan.sandboxed && child.pid !== undefined ? await firstChild(child.pid).catch(() => null) : null,
    status: {
      id: spec.id,
      environment: spec.environment,
      service: spec.service,
      release: spec.release,
      image: spec.image,
      configDigest: spec.configDigest,
      state: 'starting',
      address: { host, port },
      pid: child.pid ?? null,
      sandboxed: plan.sandboxed,
      startedAt: now,
      stoppedAt: null,
      exitCode: null,
      reason: null,
    },
  };
  const live = newLive(record);
  ctx.instances.set(spec.id, live);
  if (child.pid !== undefined) ctx.launching.delete(child.pid);
  await ctx.save(live);
  live.child = child;
  await watchInstance(ctx, live, childExit, false);
  logger.info({ instance: spec.id, pid: child.pid, port, sandboxed: plan.sandboxed }, 'instance started');
  return ctx.snapshot(live);
}
