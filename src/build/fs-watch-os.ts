/**
 * What the file watcher (fs-watch-daemon.ts) asks of the operating system: which file systems report every
 * change to inotify, how long inotify's queue is, whether a path is still the directory it was, and a Unix
 * socket to listen on that a dead daemon may have left behind.
 */
import { lstatSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { createConnection, type createServer } from 'node:net';
import { join } from 'node:path';
import { processAlive } from '../core/index.ts';

// statfs f_type of local file systems whose every change reaches inotify (linux/magic.h). Network and FUSE
// file systems are left out: a change made on another host or by the FUSE server raises no event here.
export const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x794c7630, // overlayfs
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
]);

/** Removes the cookie directories of daemons that are gone (killed before they could clean up). */
export function removeDeadCookies(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = Number(/^cookies-(\d+)$/.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** fs.inotify.max_queued_events, or its default. */
export function queueSize(): number {
  try {
    const size = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    return Number.isSafeInteger(size) && size > 0 ? size : 16384;
  } catch {
    return 16384;
  }
}

/** Whether `path` is still the directory `was` (same dev and inode). */
export function sameDir(path: string, was: { dev: bigint; ino: bigint } | undefined): boolean {
  if (was === undefined) return false;
  try {
    const now = lstatSync(path, { bigint: true });
    return now.isDirectory() && now.dev === was.dev && now.ino === was.ino;
  } catch {
    return false;
  }
}

// Listens on `path`, replacing a socket nobody answers on (a daemon that died); another daemon answering
// there means this one is not needed.
export async function listen(server: ReturnType<typeof createServer>, path: string): Promise<void> {
  const attempt = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await attempt();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection(path, () => {
        probe.destroy();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
    });
    if (alive) throw new Error(`another watcher answers on ${path}`);
    unlinkSync(path);
    await attempt();
  }
}
