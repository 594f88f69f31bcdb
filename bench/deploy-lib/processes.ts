/**
 * Children of the deploy benchmark: every process it starts is tracked here so that an error or Ctrl-C
 * still stops them, and a sandboxed process (bubblewrap's init plus the program, in their own session)
 * can be stopped by walking /proc for the descendants of the bubblewrap process.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { machineBusyMs } from '../lib/proc.ts';

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];

export const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

/** Remembers a child until it exits. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs `fn` at the end of the benchmark (or on Ctrl-C / failure), newest first. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** Runs the registered cleanups, then SIGKILLs any tracked child still alive (with its descendants). */
export async function cleanupAll(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      log(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    for (const pid of [...descendants(child.pid), child.pid]) signal(pid, 'SIGKILL');
  }
  children.clear();
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Every process below `root` in the parent tree, read from /proc (children before grandchildren). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited while listing
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const [child, ppid] of parent) {
      if (ppid === pid) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Resolves once `child` has exited; SIGKILLs it (and its descendants) after `ms`. */
export async function exited(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  if (await Promise.race([done.then(() => false), late])) {
    for (const pid of [...descendants(child.pid ?? 0), child.pid ?? 0]) if (pid > 0) signal(pid, 'SIGKILL');
    await done;
  }
  clearTimeout(timer);
}

/** Command lines (NUL-separated argv joined by spaces) of live processes matching `test`. */
export function processesMatching(test: (cmdline: string) => boolean): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (test(cmdline)) found.push({ pid: Number(name), cmdline });
    } catch {
      // exited while listing
    }
  }
  return found;
}

/** Busy share of all cores (0..100 × cores) between two readings of /proc/stat, and the load average. */
export function machineBusy(): () => { busyCores: number; load1: number } {
  const start = { busy: machineBusyMs(), at: performance.now() };
  return () => {
    const end = { busy: machineBusyMs(), at: performance.now() };
    const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    return { busyCores: (end.busy - start.busy) / (end.at - start.at), load1 };
  };
}
