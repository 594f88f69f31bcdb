/** Runs a command to completion and reports its wall time and, when it can, its peak resident memory. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Run {
  seconds: number;
  /** Peak resident set size in MiB (of the command itself, or the largest process of a pipeline), or null. */
  peakMiB: number | null;
  stdout: string;
}

const TIME = '/usr/bin/time';

/**
 * Runs `command` (argv, or a shell line) with `env` added. Peak memory is that of the largest process of the
 * tree (the CLI behind `bin/fixity.js`, the compressor of a pipeline): GNU time's getrusage (`%M`, the exact
 * high-water mark over the command and its descendants), else polling VmHWM of each process in the tree every
 * 20 ms.
 */
export async function run(command: string[] | string, env: Record<string, string> = {}): Promise<Run> {
  const argv = typeof command === 'string' ? ['sh', '-c', command] : command;
  const useTime = existsSync(TIME);
  const timeFile = join(tmpdir(), `fixity-bench-time-${process.pid}-${Date.now()}`);
  const full = useTime ? [TIME, '-f', '%M', '-o', timeFile, ...argv] : argv;
  const started = performance.now();
  const child = spawn(full[0]!, full.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let polledKiB = 0;
  const poll = useTime
    ? null
    : setInterval(() => {
        treeHighWaterKiB(child.pid ?? 0)
          .then((kib) => {
            polledKiB = Math.max(polledKiB, kib);
          })
          .catch(() => {});
      }, 20);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const seconds = (performance.now() - started) / 1000;
  if (poll) clearInterval(poll);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}: ${stderr.trim().slice(-2000)}`);
  let peakMiB: number | null = polledKiB > 0 ? polledKiB / 1024 : null;
  if (useTime) {
    const kib = Number((await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n').at(-1));
    peakMiB = Number.isFinite(kib) && kib > 0 ? kib / 1024 : null;
    await rm(timeFile, { force: true });
  }
  return { seconds, peakMiB, stdout };
}

/** The largest VmHWM among `pid` and its descendants (0 for processes already gone). */
async function treeHighWaterKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  let kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  for (const child of children.split(' ').filter(Boolean)) kib = Math.max(kib, await treeHighWaterKiB(Number(child)));
  return kib;
}

/** True when `name` is on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  try {
    await run(['sh', '-c', `command -v ${name} >/dev/null`]);
    return true;
  } catch {
    return false;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
