import type { DriverContext } from './driver-context.ts';
import { LIVE_STATES } from './instance-store.ts';
import { descendantsOf, parentTable, signal } from './process-table.ts';

/**
 * Ending an instance for `stop` and `quarantine`: SIGTERM, a grace period for it to drain and exit, then
 * SIGKILL to whatever of its process tree is left. The exit watch records the final state.
 */

/** Ends `id` as `stopped` or `quarantined`, resolving once its process has exited; a no-op when none runs. */
export async function endInstance(
  ctx: Pick<DriverContext, 'logger' | 'get' | 'setState'>,
  id: string,
  as: 'stopped' | 'quarantined',
  graceMs: number,
): Promise<void> {
  const live = ctx.get(id);
  const pid = live.record.status.pid;
  if (!LIVE_STATES.has(live.record.status.state) || pid === null) {
    if (as === 'quarantined') ctx.setState(live, { state: 'quarantined' });
    return;
  }
  live.ending = as;
  live.health?.stop();
  // bubblewrap does not forward signals, so the sandboxed processes get them directly (its pid-1 ignores
  // them); the tree is rescanned during the grace period because bubblewrap may not have forked the app yet.
  const signalled = new Set<number>();
  const term = async () => {
    if (!live.record.status.sandboxed) {
      if (signalled.size === 0) signal(-pid, 'SIGTERM');
      signalled.add(pid);
      return;
    }
    for (const p of descendantsOf(pid, await parentTable())) {
      if (!signalled.has(p)) signal(p, 'SIGTERM');
      signalled.add(p);
    }
  };
  await term();
  const rescan = setInterval(() => void term(), 100);
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    live.exited.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  clearInterval(rescan);
  if (!graceful) {
    ctx.logger.warn({ instance: id, graceMs }, 'instance ignored SIGTERM: killing it');
    const now = descendantsOf(pid, await parentTable());
    signal(-pid, 'SIGKILL');
    for (const p of [pid, ...signalled, ...now]) signal(p, 'SIGKILL');
    await live.exited;
  }
}
