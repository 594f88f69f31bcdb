/**
 * The build's side of the file watcher (fs-watch-daemon.ts): where its socket lives, and one question asked
 * of it, starting it first when nobody answers. Anything that goes wrong — no daemon and none can start, a
 * socket directory that is not this user's alone, no answer in time — is an answer too: the build walks its
 * sources as it would without a watcher.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WATCH_PROTOCOL } from './fs-watch-daemon.ts';

/** Where things stood under a root when the watcher was asked: see fs-watch-daemon.ts. */
export interface WatchSync {
  /** Names the daemon instance and its watch of the root: another token means nothing is known since. */
  token: string;
  /** The daemon's generation when it answered. */
  generation: number;
  /** The generation of the root's last change (or of the start of its watch). */
  lastChange: number;
}

export interface FileWatcher {
  /** Where the root stands now, or why that is not known. */
  sync(root: string): Promise<WatchSync | { reason: string }>;
}

/** Whether nothing under the root changed from `before` (a build's sync) to `now`. */
export function unchangedSince(before: { token: string; generation: number }, now: WatchSync): boolean {
  return before.token === now.token && now.lastChange <= before.generation;
}

/**
 * The watcher's directory: FIXITY_WATCH_DIR, else `$XDG_RUNTIME_DIR/fixity`, else `fixity-<uid>` in the
 * temporary directory; made mode 0700 and used only when it is this user's and nobody else's.
 */
export function watchDir(env: NodeJS.ProcessEnv): string {
  if (env.FIXITY_WATCH_DIR) return env.FIXITY_WATCH_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'fixity');
  return join(tmpdir(), `fixity-${process.getuid?.() ?? 'user'}`);
}

export function watchSocket(dir: string): string {
  return join(dir, `watch-${WATCH_PROTOCOL}.sock`);
}

/** Makes `dir` (0700) if need be; throws unless it is a directory owned by this user that only they can use. */
export function ownWatchDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) {
    throw new Error(`${dir} must be a directory of this user's with mode 0700`);
  }
}

export interface FileWatcherOptions {
  dir: string;
  /** Starts the daemon (detached); called at most once, when nobody answers on the socket. */
  start: () => void;
  /** How long an answer may take, starting the daemon and its first watch of a large tree included. */
  timeoutMs?: number;
}

export function connectFileWatcher(options: FileWatcherOptions): FileWatcher {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let started = false;
  return {
    async sync(root) {
      try {
        ownWatchDir(options.dir);
      } catch (err) {
        return { reason: (err as Error).message };
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const reply = await ask(watchSocket(options.dir), { op: 'sync', root }, deadline - Date.now());
        if ('answer' in reply) {
          const a = reply.answer;
          if (a.ok === true && typeof a.token === 'string' && Number.isSafeInteger(a.generation)) {
            return { token: a.token, generation: a.generation as number, lastChange: a.lastChange as number };
          }
          return { reason: typeof a.reason === 'string' ? a.reason : 'the watcher gave no answer' };
        }
        if (!reply.absent || Date.now() >= deadline) return { reason: reply.reason };
        if (!started) {
          started = true;
          options.start();
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

type Reply = { answer: Record<string, unknown> } | { absent: boolean; reason: string };

/** Sends one request and reads one line back; `absent` when nobody listens on the socket. */
export function ask(socketPath: string, request: object, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    let buffered = '';
    const socket = createConnection(socketPath);
    const done = (reply: Reply) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(
      () => done({ absent: false, reason: `the watcher did not answer within ${timeoutMs} ms` }),
      Math.max(0, timeoutMs),
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      try {
        done({ answer: JSON.parse(buffered.slice(0, end)) as Record<string, unknown> });
      } catch {
        done({ absent: false, reason: 'the watcher answered something that is not JSON' });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      done({ absent: err.code === 'ENOENT' || err.code === 'ECONNREFUSED', reason: err.message }),
    );
    socket.on('close', () => done({ absent: false, reason: 'the watcher closed the connection' }));
  });
}
