import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, parseDigest } from '../core/index.ts';
import type { DriverContext } from './driver-context.ts';
import { watchHealth } from './health.ts';
import { type InstanceRecord, LIVE_STATES, type Live, newLive, sameArgv } from './instance-store.ts';
import { startLogTail } from './log-tail.ts';
import { readCmdline, signal } from './process-table.ts';

/**
 * Watching a running instance: its output goes to a labelled, rotated log, its health is probed, and its exit
 * is seen (as our child's exit event, or by polling when it was adopted from an earlier driver) and recorded.
 */

export type ExitInfo = [code: number | null, sig: NodeJS.Signals | null];
type WatchContext = Pick<DriverContext, 'logger' | 'clock' | 'host' | 'logRotation' | 'dirOf' | 'setState'>;

const short = (d: Digest) => parseDigest(d).hex.slice(0, 12);

function onExit(ctx: WatchContext, live: Live, exitCode: number | null, reason: string) {
  live.health?.stop();
  live.health = null;
  if (live.poll !== null) clearInterval(live.poll);
  live.poll = null;
  live.child = null;
  const ending = live.ending;
  // The watched pid is bubblewrap's outer process; if it died alone, the namespace's init lives on in its
  // own session: killing that init ends the whole sandbox instead of leaving it running unwatched.
  const init = live.record.sandboxInit;
  if (typeof init === 'number' && ending === null) {
    void readCmdline(init).then((argv) => {
      if (sameArgv(argv, live.record.argv)) signal(init, 'SIGKILL');
    });
  }
  void live.tail?.flush(true);
  live.tail?.stop();
  const state = ending ?? 'exited';
  if (state === 'exited') ctx.logger.warn({ instance: live.record.id, exitCode, reason }, 'instance exited');
  const keepReason = ending === 'quarantined' ? live.record.status.reason : reason;
  ctx.setState(live, { state, exitCode, stoppedAt: ctx.clock.now().toISOString(), pid: null, reason: keepReason });
  live.markExited();
}

/** Starts the log tail, exit watch and health probe of a running instance (`childExit` when it is our child). */
export async function watchInstance(
  ctx: WatchContext,
  live: Live,
  childExit: Promise<ExitInfo> | null,
  alreadyReady: boolean,
): Promise<void> {
  const r = live.record;
  const labels = `env=${r.environment} release=${short(r.release)} image=${short(r.image)} instance=${r.id} `;
  const dir = ctx.dirOf(r.id);
  live.tail = await startLogTail(
    { output: join(dir, 'output'), log: join(dir, 'log'), offset: join(dir, 'log.offset') },
    { ...ctx.logRotation, prefix: () => `${ctx.clock.now().toISOString()} ${labels}` },
  );
  if (childExit !== null) {
    void childExit.then(([code, sig]) => {
      if (!live.detached)
        onExit(ctx, live, code ?? 128, sig === null ? `exited with code ${code}` : `killed by ${sig}`);
    });
  } else {
    const pid = r.status.pid!;
    // Not our child any more: its exit can only be seen by looking.
    live.poll = setInterval(() => {
      void readCmdline(pid).then((argv) => {
        if (argv === null && live.poll !== null) onExit(ctx, live, null, 'exited while adopted');
      });
    }, 1000);
  }
  live.health = watchHealth({
    host: ctx.host,
    port: r.status.address.port,
    spec: r.health,
    clock: ctx.clock,
    startedAt: new Date(r.status.startedAt),
    alreadyReady,
    onReady: () => ctx.setState(live, { state: 'ready', reason: null }),
    onUnhealthy: (reason) => {
      ctx.logger.warn({ instance: r.id, reason }, 'instance unhealthy');
      ctx.setState(live, { state: 'unhealthy', reason });
    },
  });
}

/** Re-adopts what a previous driver (or a crashed server) left running; records the rest as exited. */
export async function adoptInstances(
  ctx: WatchContext & Pick<DriverContext, 'instances' | 'save'>,
  instancesDir: string,
): Promise<void> {
  for (const id of await readdir(instancesDir)) {
    let record: InstanceRecord;
    try {
      record = JSON.parse(await readFile(join(ctx.dirOf(id), 'instance.json'), 'utf8'));
    } catch {
      continue;
    }
    const live = newLive(record);
    ctx.instances.set(id, live);
    const pid = record.status.pid;
    if (!LIVE_STATES.has(record.status.state) || pid === null) {
      live.markExited();
      continue;
    }
    if (sameArgv(await readCmdline(pid), record.argv)) {
      ctx.logger.info({ instance: id, pid }, 'adopted running instance');
      await watchInstance(ctx, live, null, record.status.state === 'ready');
    } else {
      live.markExited();
      Object.assign(record.status, { state: 'exited', pid: null, reason: 'gone while the driver was down' });
      Object.assign(record.status, { stoppedAt: ctx.clock.now().toISOString() });
      await ctx.save(live);
    }
  }
}
