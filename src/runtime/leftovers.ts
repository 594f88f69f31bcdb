import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../core/index.ts';
import type { DriverContext } from './driver-context.ts';
import { LIVE_STATES } from './instance-store.ts';
import { descendantsOf, parentTable, readCmdline } from './process-table.ts';
import { removeTree } from './unpack.ts';

/**
 * What the local driver no longer accounts for: processes running from its roots that belong to no instance
 * (`strays`), and the directories of ended instances and roots no instance uses (`gc`).
 */

/** Processes whose command line names a path under the roots dir and that no instance or start accounts for. */
export async function findStrays(
  ctx: Pick<DriverContext, 'launching' | 'instances' | 'rootsDir'>,
): Promise<Array<{ pid: number; command: string }>> {
  const table = await parentTable();
  const known = new Set<number>();
  for (const pid of ctx.launching) {
    known.add(pid);
    for (const p of descendantsOf(pid, table)) known.add(p);
  }
  for (const live of ctx.instances.values()) {
    const pid = live.record.status.pid;
    if (pid !== null && LIVE_STATES.has(live.record.status.state)) {
      known.add(pid);
      for (const p of descendantsOf(pid, table)) known.add(p);
    }
  }
  const marker = `${ctx.rootsDir}/`;
  const found: Array<{ pid: number; command: string }> = [];
  for (const pid of table.keys()) {
    if (known.has(pid) || pid === process.pid) continue;
    const argv = await readCmdline(pid);
    if (argv?.some((a) => a.includes(marker))) found.push({ pid, command: argv.join(' ') });
  }
  return found;
}

/** Removes stopped and exited instances, quarantined ones past retention, and roots nothing uses or is starting. */
export async function collectGarbage(
  ctx: Pick<DriverContext, 'clock' | 'retentionMs' | 'instances' | 'dirOf' | 'starting' | 'rootsDir'>,
): Promise<{ instances: number; roots: number }> {
  const { instances, rootsDir } = ctx;
  let removed = 0;
  const now = ctx.clock.now().getTime();
  for (const [id, live] of instances) {
    const s = live.record.status;
    const done = s.state === 'stopped' || s.state === 'exited';
    const expired = s.state === 'quarantined' && now - new Date(s.stoppedAt ?? 0).getTime() >= ctx.retentionMs;
    if (!done && !expired) continue;
    instances.delete(id);
    await rm(ctx.dirOf(id), { recursive: true, force: true });
    removed++;
  }
  const used = new Set([...instances.values()].map((l) => parseDigest(l.record.image).hex));
  for (const hex of ctx.starting.keys()) used.add(hex);
  let roots = 0;
  for (const name of await readdir(rootsDir)) {
    const hex = name.split('.')[0]!;
    if (used.has(hex)) continue;
    if (name.includes('.tmp-')) continue; // an unpack in progress or left by a crash; never in use
    await (name.endsWith('.json') ? rm(join(rootsDir, name), { force: true }) : removeTree(join(rootsDir, name)));
    if (!name.endsWith('.json')) roots++;
  }
  return { instances: removed, roots };
}
