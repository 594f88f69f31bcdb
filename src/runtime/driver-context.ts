import type { Clock } from '../core/index.ts';
import type { InstanceStore } from './instance-store.ts';
import type { LogRotation } from './log-tail.ts';
import type { SandboxSupport } from './sandbox.ts';
import type { RuntimeLogger } from './types.ts';
import type { Unpacker } from './unpack.ts';

/**
 * What the local driver's parts share: its settings with their defaults applied, the instance store, and the
 * starts still in flight. `createLocalDriver` makes one; each part takes the fields it needs.
 */

export interface DriverContext extends InstanceStore {
  readonly logger: RuntimeLogger;
  readonly clock: Clock;
  /** The address instances listen on. */
  readonly host: string;
  /** Interpreters an image may name without containing them. */
  readonly hostBinaries: Readonly<Record<string, string>>;
  readonly logRotation: Required<LogRotation>;
  /** How long a quarantined instance is kept before `gc` removes it. */
  readonly retentionMs: number;
  readonly rootsDir: string;
  readonly unpacker: Unpacker;
  /** What sandboxing the host offers, detected once on first use. */
  sandboxSupport(): Promise<SandboxSupport>;
  /** Pids spawned by a start() that has not registered its instance yet. */
  readonly launching: Set<number>;
  /** Images a start is using before its instance is registered; gc keeps their roots. */
  readonly starting: Map<string, number>;
}
