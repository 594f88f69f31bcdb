/**
 * Watching a server process during one measured phase: its peak resident set (VmRSS, sampled),
 * the CPU it used (utime + stime of all its threads) and the CPU the benchmark client itself used,
 * and the CPU everything else on the machine used meanwhile (to spot a run disturbed by other load),
 * all as a percentage of one core over the phase's wall time.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface PhaseUsage {
  /** Peak VmRSS of the server in bytes. */
  maxRss: number;
  /** Server CPU time / wall time × 100 (can exceed 100 for multi-threaded servers). */
  serverCpu: number;
  /** Benchmark client CPU time / wall time × 100. */
  clientCpu: number;
  /** CPU used by everything else on the machine (other processes, hypervisor steal), same scale. */
  otherCpu: number;
}

/** Busy (non-idle, non-iowait) CPU time of the whole machine in ms, from the first line of /proc/stat. */
export function machineBusyMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is counted in user)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every mainstream Linux. */
const CLOCK_TICKS = 100;

function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command: state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

async function rss(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Starts watching `pid`; `stop()` ends the phase and returns its usage (idempotent). */
export function watchProcess(pid: number, intervalMs = 25): { stop(): Promise<PhaseUsage> } {
  let max = 0;
  let running = true;
  const wall0 = performance.now();
  const server0 = cpuMs(pid);
  const client0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  let result: PhaseUsage | undefined;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await rss(pid));
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      if (result) return result;
      running = false;
      const wall = performance.now() - wall0;
      const server = cpuMs(pid) - server0;
      const client = process.cpuUsage(client0);
      const busy = machineBusyMs() - busy0;
      const clientMs = (client.user + client.system) / 1000;
      max = Math.max(max, await rss(pid));
      result = {
        maxRss: max,
        serverCpu: (server / wall) * 100,
        clientCpu: (clientMs / wall) * 100,
        otherCpu: (Math.max(0, busy - server - clientMs) / wall) * 100,
      };
      await loop;
      return result;
    },
  };
}
