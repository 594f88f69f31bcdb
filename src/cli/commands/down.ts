import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_DATA_DIR } from '../../defaults.ts';
import { emit, type GlobalOptions } from '../output.ts';

/** Stops the server that `fixity up`/`serve` started in the data dir (SIGTERM, then waits). */
export async function runDown(options: GlobalOptions): Promise<void> {
  const dataDir = resolve(options.data ?? process.env.FIXITY_DATA ?? DEFAULT_DATA_DIR);
  const pidFile = join(dataDir, 'server.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
  let stopped = false;
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 150 && existsSync(pidFile); i++) await sleep(100);
      stopped = true;
    } catch {
      stopped = false;
    }
  }
  emit(options, 'Down', { stopped, pid: pid || null, dataDir }, () =>
    stopped ? `✔ stopped fixity (pid ${pid})` : `nothing to stop in ${dataDir}`,
  );
}
