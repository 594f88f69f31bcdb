import type { ChildProcess } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthWatch } from './health.ts';
import type { LogTail } from './log-tail.ts';
import { RuntimeError } from './runtime-error.ts';
import type { InstanceSpec, InstanceStatus, RuntimeLogger } from './types.ts';

/**
 * The local driver's instances in memory and on disk: each has a directory under the state dir whose
 * `instance.json` records its spec, command and status, rewritten on every change so that a driver started
 * after a restart can adopt what still runs.
 */

export type Spec = Omit<InstanceSpec, 'provisioningKey'>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What `instance.json` holds. */
export interface InstanceRecord extends Spec {
  status: Mutable<InstanceStatus>;
  argv: string[];
  /** bubblewrap's pid-1 inside the sandbox (a host pid), when sandboxed. */
  sandboxInit: number | null;
  /** The root it runs on and the manifest made at unpack (a tampered root is moved aside, see verify). */
  rootDir?: string;
  rootMeta?: string;
}

/** An instance this driver knows, with what watches it while it runs. */
export interface Live {
  record: InstanceRecord;
  child: ChildProcess | null;
  poll: NodeJS.Timeout | null;
  health: HealthWatch | null;
  tail: LogTail | null;
  /** Set while stop/quarantine is in progress: the next exit is expected. */
  ending: 'stopped' | 'quarantined' | null;
  /** After `detach`, exits are no longer this driver's business. */
  detached: boolean;
  exited: Promise<void>;
  markExited: () => void;
  waiters: Array<{ resolve: (s: InstanceStatus) => void; reject: (e: unknown) => void }>;
  /** The last write of `instance.json`: writes go one after another, so an older state never lands last. */
  saved: Promise<void>;
}

export const LIVE_STATES = new Set(['starting', 'ready', 'unhealthy']);

export const sameArgv = (a: readonly string[] | null, b: readonly string[]) =>
  a !== null && a.length === b.length && a.every((x, i) => x === b[i]);

/** A record not watched yet: nothing runs for it until `watchInstance`. */
export function newLive(record: InstanceRecord): Live {
  let markExited = () => {};
  const exited = new Promise<void>((resolve) => {
    markExited = resolve;
  });
  return {
    record,
    child: null,
    poll: null,
    health: null,
    tail: null,
    ending: null,
    detached: false,
    exited,
    markExited,
    waiters: [],
    saved: Promise.resolve(),
  };
}

export interface InstanceStore {
  readonly instances: Map<string, Live>;
  /** The instance's directory: its `instance.json`, output and log. */
  dirOf(id: string): string;
  /** Writes `instance.json` atomically, after any write still in progress; resolves once the file holds the status. */
  save(live: Live): Promise<void>;
  /** `save` in the background, logging a failure. */
  persist(live: Live): void;
  snapshot(live: Live): InstanceStatus;
  /** Answers `waitReady` callers once the instance is no longer starting. */
  settleWaiters(live: Live): void;
  /** Changes the status, saves it, answers waiters and tells `onStateChange` when the state moved. */
  setState(live: Live, patch: Partial<InstanceStatus>): void;
  /** The instance, or INSTANCE_UNKNOWN. */
  get(id: string): Live;
}

/** A store keeping each instance's directory under `instancesDir`. */
export function createInstanceStore(
  instancesDir: string,
  logger: RuntimeLogger,
  onStateChange?: (status: InstanceStatus) => void,
): InstanceStore {
  const instances = new Map<string, Live>();
  const dirOf = (id: string) => join(instancesDir, id);
  const write = async (live: Live) => {
    const file = join(dirOf(live.record.id), 'instance.json');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(live.record, null, 1)}\n`);
    await rename(tmp, file);
  };
  const save = (live: Live) => {
    const next = live.saved.catch(() => {}).then(() => write(live));
    live.saved = next;
    return next;
  };
  const persist = (live: Live) => {
    save(live).catch((err) => logger.error({ err, instance: live.record.id }, 'cannot save instance state'));
  };
  const snapshot = (live: Live): InstanceStatus => ({
    ...live.record.status,
    address: { ...live.record.status.address },
  });
  const settleWaiters = (live: Live) => {
    const s = live.record.status;
    if (s.state === 'starting') return;
    for (const w of live.waiters.splice(0)) {
      if (s.state === 'ready') w.resolve(snapshot(live));
      else w.reject(new RuntimeError('NOT_READY', `Cannot wait for ${s.id}: it is ${s.state} (${s.reason})`));
    }
  };
  const setState = (live: Live, patch: Partial<InstanceStatus>) => {
    const before = live.record.status.state;
    Object.assign(live.record.status, patch);
    persist(live);
    settleWaiters(live);
    if (live.record.status.state !== before) onStateChange?.(snapshot(live));
  };
  const get = (id: string): Live => {
    const live = instances.get(id);
    if (live === undefined) throw new RuntimeError('INSTANCE_UNKNOWN', `Cannot find instance ${id}: it is unknown`);
    return live;
  };
  return { instances, dirOf, save, persist, snapshot, settleWaiters, setState, get };
}
