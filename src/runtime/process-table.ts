import { readdir, readFile } from 'node:fs/promises';

/** A process's argv from /proc, or null when it is gone or a zombie. */
export async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return null;
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return null;
  }
}

/** Every process's parent, read from /proc/<pid>/stat. */
export async function parentTable(): Promise<Map<number, number>> {
  const table = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      table.set(Number(name), ppid);
    } catch {}
  }
  return table;
}

/** All processes below `pid` (children, grandchildren…), nearest first. */
export function descendantsOf(pid: number, table: Map<number, number>): number[] {
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [child, parent] of table) if (frontier.includes(parent) && !found.includes(child)) next.push(child);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** Sends `signal`, ignoring processes that are already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {}
}
