/**
 * The file watcher's process (fs-watch-daemon.ts), as a build starts it (cli/commands/build.ts):
 * `node fs-watch-process.ts DIR IDLE_MS`. A file of its own rather than a CLI command, so that the process
 * holds the watcher and nothing of the CLI (118 MiB resident through the CLI's entry point on a 7k-directory
 * tree); its settings come as arguments.
 */
import { ownWatchDir, watchSocket } from './fs-watch.ts';
import { runWatchDaemon } from './fs-watch-daemon.ts';

const [dir, idleText] = process.argv.slice(2);
const idleMs = Number(idleText);
if (dir === undefined || !(idleMs > 0)) throw new Error('usage: fs-watch-process.ts DIR IDLE_MS');
ownWatchDir(dir);
// Stopped by a signal, it still removes its socket and cookie directory.
const stopping = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => stopping.abort());
await runWatchDaemon({
  dir,
  socketPath: watchSocket(dir),
  idleMs,
  signal: stopping.signal,
});
