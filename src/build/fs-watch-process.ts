/**
 * The file watcher's process (fs-watch-daemon.ts), as a build starts it: `node fs-watch-process.ts DIR`. A
 * file of its own rather than a CLI command, so that the process holds the watcher and nothing of the CLI
 * (118 MiB resident through the CLI's entry point on a 7k-directory tree).
 */
import { ownWatchDir, watchSocket } from './fs-watch.ts';
import { runWatchDaemon } from './fs-watch-daemon.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: fs-watch-process.ts DIR');
ownWatchDir(dir);
const idle = Number(process.env.FIXITY_WATCH_IDLE_MS);
// Stopped by a signal, it still removes its socket and cookie directory.
const stopping = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => stopping.abort());
await runWatchDaemon({
  dir,
  socketPath: watchSocket(dir),
  idleMs: idle > 0 ? idle : 3 * 60 * 60 * 1000,
  signal: stopping.signal,
});
