/**
 * The file watcher behind warm builds: a per-user background process that keeps an inotify watch on each
 * source root a build asked about, and answers one question over a Unix socket: has anything under this root
 * changed since generation G? A build whose inputs are otherwise the same, and whose root has not changed
 * since its last build, reuses that build's layers without walking 100k files (build-memo.ts). This is what
 * Gradle's file-system watching and git's fsmonitor daemon do; the protocol follows git's (a token per
 * daemon instance and root, a generation, and a cookie file to sync on).
 *
 * - Every directory under a root is watched (not following symlinks); any event under it (a file created,
 *   written, removed, renamed or chmod-ed) moves the root's `lastChange` to a new generation. A directory that
 *   appears is watched, with its subtree, in the same event callback, so before any later answer.
 * - Sync: before answering, the daemon creates a cookie file in its own directory, watched by the same inotify
 *   instance, and waits for its event. inotify queues events in the order they happen, so every change a
 *   client made before asking has been seen by then.
 * - A root that cannot be watched whole (a file system other than local ones known to report every change,
 *   too many watches, a directory that vanished mid-set-up, a watcher error) is `broken`: always changed.
 * - inotify drops events when its queue (fs.inotify.max_queued_events) overflows, and libuv does not pass the
 *   overflow on. libuv drains the queue in one go, so when half a queue's worth of events arrives in one turn
 *   of the event loop, some may have been dropped: every root counts as changed.
 * - Not seen, as with git's fsmonitor: writes through mmap, and writes to a hardlinked file through a path
 *   outside the root (the build re-checks files with several links itself).
 *
 * Protocol: one JSON object per line each way. `{"op":"sync","root":R}` → `{"ok":true,"token","generation",
 * "lastChange"}` or `{"ok":false,"reason"}`; `{"op":"status"}` → its pid, roots and watches; `{"op":"stop"}`
 * ends the daemon. It exits by itself after `idleMs` without a request, or when its socket is no longer its
 * own. What it asks of the operating system is in fs-watch-os.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  type FSWatcher,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  statfsSync,
  statSync,
  unlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { LOCAL_FILE_SYSTEMS, listen, queueSize, removeDeadCookies, sameDir } from './fs-watch-os.ts';

export const WATCH_PROTOCOL = 1;

const MAX_ROOTS = 64;

interface Root {
  path: string;
  id: string;
  lastChange: number;
  broken: string | null;
  watchers: Map<string, FSWatcher>;
  /** What each watched directory is (dev, to notice a mount below; ino, to notice it replaced). */
  dirs: Map<string, { dev: bigint; ino: bigint }>;
  usedAt: number;
}

export interface WatchDaemonOptions {
  /** The directory holding the socket (mode 0700, this user's). */
  dir: string;
  socketPath: string;
  idleMs: number;
  /** inotify's queue length (default: fs.inotify.max_queued_events). */
  queueSize?: number;
  /** Stops the daemon as `stop` does (its process aborts it on SIGTERM and SIGINT). */
  signal?: AbortSignal;
}

export async function runWatchDaemon(options: WatchDaemonOptions): Promise<void> {
  const instance = randomBytes(8).toString('hex');
  const cookieDir = join(options.dir, `cookies-${process.pid}`);
  removeDeadCookies(options.dir);
  rmSync(cookieDir, { recursive: true, force: true });
  mkdirSync(cookieDir, { mode: 0o700 });
  let generation = 0;
  const roots = new Map<string, Root>();
  const cookies = new Map<string, () => void>();
  let cookieSeq = 0;
  const cookieWatcher = watch(cookieDir, (_event, name) => {
    if (name === null) return;
    const done = cookies.get(name);
    if (done !== undefined) {
      cookies.delete(name);
      done();
    }
  });

  const sync = (): Promise<void> =>
    new Promise((resolve) => {
      const name = `c${++cookieSeq}`;
      cookies.set(name, () => {
        rmSync(join(cookieDir, name), { force: true });
        resolve();
      });
      writeFileSync(join(cookieDir, name), '');
    });

  const changed = (root: Root) => {
    root.lastChange = ++generation;
  };
  // Events in this turn of the event loop (see the top of this file).
  const burst = Math.max(1, Math.floor((options.queueSize ?? queueSize()) / 2));
  let inTurn = 0;
  const counted = () => {
    if (inTurn++ === 0) setImmediate(() => (inTurn = 0));
    if (inTurn === burst) for (const root of roots.values()) changed(root);
  };
  const breakRoot = (root: Root, reason: string) => {
    root.broken ??= reason;
    changed(root);
    for (const w of root.watchers.values()) w.close();
    root.watchers.clear();
  };

  // Watches `dir` and every directory below it, until the root is broken.
  const watchTree = (root: Root, dir: string, parentDev: bigint | null): void => {
    if (root.broken !== null || root.watchers.has(dir)) return;
    let dev: bigint;
    try {
      const stat = lstatSync(dir, { bigint: true });
      if (!stat.isDirectory()) return;
      dev = stat.dev;
      if (dev !== parentDev && !LOCAL_FILE_SYSTEMS.has(statfsSync(dir).type)) {
        breakRoot(root, `${dir} is not on a local file system that reports every change`);
        return;
      }
      // Watch first, then list: an entry made in between is either listed or raises an event.
      const watcher = watch(dir, { persistent: false }, (event, name) => onEvent(root, dir, event, name));
      watcher.on('error', () => breakRoot(root, `the watch on ${dir} failed`));
      root.watchers.set(dir, watcher);
      root.dirs.set(dir, { dev, ino: stat.ino });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone already: its removal raised an event
      breakRoot(root, `cannot watch ${dir}: ${code === 'ENOSPC' ? 'too many inotify watches' : String(err)}`);
      return;
    }
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) watchTree(root, `${dir}/${name}`, dev);
  };

  const unwatch = (root: Root, path: string) => {
    if (!root.watchers.has(path)) return;
    for (const [watched, watcher] of root.watchers) {
      if (watched === path || watched.startsWith(`${path}/`)) {
        watcher.close();
        root.watchers.delete(watched);
        root.dirs.delete(watched);
      }
    }
  };

  const onEvent = (root: Root, dir: string, event: string, name: string | Buffer | null) => {
    counted();
    if (root.broken !== null) return;
    changed(root);
    if (name === null) {
      breakRoot(root, `an event in ${dir} came without a name`);
      return;
    }
    if (event !== 'rename') return; // a file written or its attributes changed: nothing to watch anew
    const base = name.toString();
    // A watched directory moved or removed reports its own name: it is no longer what is at its path.
    if (base === basename(dir) && !sameDir(dir, root.dirs.get(dir))) {
      if (dir === root.path) breakRoot(root, `${root.path} itself was removed or renamed`);
      else unwatch(root, dir); // its parent's event watches what is there now
      return;
    }
    // A name created, removed or renamed here: what was watched under it goes, what is there now is watched.
    const path = `${dir}/${base}`;
    unwatch(root, path);
    watchTree(root, path, root.dirs.get(dir)?.dev ?? null);
  };

  const rootFor = (path: string): Root => {
    let root = roots.get(path);
    if (root === undefined || root.broken !== null || !sameDir(path, root.dirs.get(path))) {
      if (root !== undefined) for (const w of root.watchers.values()) w.close();
      if (roots.size >= MAX_ROOTS) {
        const oldest = [...roots.values()].sort((a, b) => a.usedAt - b.usedAt)[0]!;
        for (const w of oldest.watchers.values()) w.close();
        roots.delete(oldest.path);
      }
      root = {
        path,
        id: randomBytes(6).toString('hex'),
        lastChange: ++generation,
        broken: null,
        watchers: new Map(),
        dirs: new Map(),
        usedAt: Date.now(),
      };
      roots.set(path, root);
      watchTree(root, path, null);
    }
    root.usedAt = Date.now();
    return root;
  };

  const answer = async (request: Record<string, unknown>): Promise<Record<string, unknown>> => {
    if (request.op === 'stop') {
      setImmediate(stop);
      return { ok: true };
    }
    if (request.op === 'status') {
      const watches = [...roots.values()].reduce((n, r) => n + r.watchers.size, 0);
      return { ok: true, pid: process.pid, protocol: WATCH_PROTOCOL, roots: roots.size, watches };
    }
    if (request.op !== 'sync' || typeof request.root !== 'string') return { ok: false, reason: 'unknown request' };
    let path: string;
    try {
      path = realpathSync(request.root);
    } catch (err) {
      return { ok: false, reason: `cannot resolve ${request.root}: ${(err as Error).message}` };
    }
    const root = rootFor(path);
    await sync();
    if (root.broken !== null) return { ok: false, reason: root.broken };
    return { ok: true, token: `${instance}:${root.id}`, generation, lastChange: root.lastChange };
  };

  let idle: NodeJS.Timeout | undefined;
  const server = createServer((socket: Socket) => {
    arm();
    const lines = createInterface({ input: socket });
    lines.on('line', (line) => {
      arm();
      let request: Record<string, unknown>;
      try {
        request = JSON.parse(line) as Record<string, unknown>;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, reason: 'not JSON' })}\n`);
        return;
      }
      answer(request).then(
        (reply) => socket.write(`${JSON.stringify(reply)}\n`),
        (err: Error) => socket.write(`${JSON.stringify({ ok: false, reason: err.message })}\n`),
      );
    });
    socket.on('error', () => {});
  });
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(stop, options.idleMs);
  };
  let ownInode: bigint | null = null;
  const ownership = setInterval(() => {
    // Another daemon that took over the socket path (a race between two first builds) serves from now on.
    try {
      if (statSync(options.socketPath, { bigint: true }).ino === ownInode) return;
    } catch {}
    stop();
  }, 30_000);
  ownership.unref();
  let stopped = false;
  function stop() {
    if (stopped) return;
    stopped = true;
    clearTimeout(idle);
    clearInterval(ownership);
    cookieWatcher.close();
    for (const root of roots.values()) for (const w of root.watchers.values()) w.close();
    rmSync(cookieDir, { recursive: true, force: true });
    try {
      if (statSync(options.socketPath, { bigint: true }).ino === ownInode) unlinkSync(options.socketPath);
    } catch {}
    server.close();
  }

  await listen(server, options.socketPath);
  ownInode = statSync(options.socketPath, { bigint: true }).ino;
  arm();
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  await new Promise<void>((resolve) => server.once('close', resolve));
}
