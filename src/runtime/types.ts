import type { Readable } from 'node:stream';
import type { Digest } from '../core/index.ts';

/**
 * The runtime room's ports. A driver obeys: it creates, checks and stops instances; it never decides what
 * should run (the deploy room's reconciler does). The local driver is the embedded default; a Kubernetes
 * driver implements the same interface.
 */

/** Where a driver writes what it does: pino's `logger.info(obj, msg)` shape, or anything alike. */
export interface RuntimeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Where a driver reads images from: main wires it to the registry's store; tests to an OCI layout. */
export interface ImageSource {
  /** The raw manifest bytes stored under `digest` (an OCI image manifest). */
  manifest(digest: Digest): Promise<Uint8Array>;
  /** A blob's bytes; the driver verifies them against `digest` while reading. */
  blob(digest: Digest): Promise<Readable>;
}

/** HTTP probes against the instance's port. */
export interface HealthCheck {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures before the probe counts as failed. */
  readonly failureThreshold: number;
}

export interface HealthSpec {
  readonly readiness?: HealthCheck;
  readonly liveness?: HealthCheck;
  /** Time from start to first successful readiness probe before the instance counts as failed. */
  readonly startupTimeoutMs: number;
}

/** What to create: exactly one release, never modified afterwards. */
export interface InstanceSpec {
  /** Unique, chosen by the reconciler (e.g. `<env>-<service>-<release12>-<random>`). */
  readonly id: string;
  readonly environment: string;
  readonly service: string;
  /** The release digest: sha256 of the canonical JSON {image, config}. */
  readonly release: Digest;
  /** The image manifest digest. */
  readonly image: Digest;
  /** sha256 of the canonical JSON of the release's config (env, port, command…); checked for drift. */
  readonly configDigest: Digest;
  /** Environment variables on top of the image config's Env (which the driver applies first). */
  readonly env: Readonly<Record<string, string>>;
  /** The port the process listens on inside the instance (passed as PORT); the driver maps it to a host port. */
  readonly port: number;
  readonly health: HealthSpec;
  /** Signed by the server, bound to this release and environment; the driver refuses to start without it. */
  readonly provisioningKey: string;
}

export type InstanceState = 'starting' | 'ready' | 'unhealthy' | 'exited' | 'stopped' | 'quarantined';

export interface InstanceStatus {
  readonly id: string;
  readonly environment: string;
  readonly service: string;
  readonly release: Digest;
  readonly image: Digest;
  readonly configDigest: Digest;
  readonly state: InstanceState;
  /** host:port the router sends traffic to. */
  readonly address: { host: string; port: number };
  readonly pid: number | null;
  readonly sandboxed: boolean;
  readonly startedAt: string;
  readonly stoppedAt: string | null;
  readonly exitCode: number | null;
  /** Why it is unhealthy, exited or quarantined. */
  readonly reason: string | null;
}

/** One difference between an instance and what it was created from. */
export interface DriftFinding {
  readonly kind:
    | 'file-changed'
    | 'file-added'
    | 'file-removed'
    | 'process-gone'
    | 'process-mismatch'
    | 'config-changed';
  /** The path inside the root for file findings; the command or config digest otherwise. */
  readonly subject: string;
  readonly expected: string | null;
  readonly actual: string | null;
}

export interface DriftReport {
  readonly instance: string;
  readonly checkedAt: string;
  readonly findings: readonly DriftFinding[];
}

export interface RuntimeDriver {
  readonly name: string;
  /**
   * Verifies the provisioning key, unpacks the image (once per image digest, every layer verified) into a
   * read-only root with a digest manifest of its files, and starts the entrypoint. Resolves once the process
   * runs; readiness is reported through `status`/`waitReady`.
   */
  start(spec: InstanceSpec): Promise<InstanceStatus>;
  /** Resolves when the readiness probe passes; rejects when the startup timeout passes or the process exits. */
  waitReady(id: string): Promise<InstanceStatus>;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop(id: string, options?: { graceMs?: number }): Promise<void>;
  /** Stops it and keeps its root and logs for forensics until `gc` after the retention time. */
  quarantine(id: string, reason: string): Promise<void>;
  status(id: string): InstanceStatus | undefined;
  list(): InstanceStatus[];
  /** Checks files against the unpack-time manifest, the process (alive, expected command) and config digest. */
  verify(id: string): Promise<DriftReport>;
  /** Processes the driver finds in its state that no instance accounts for (unknown processes are drift). */
  strays(): Promise<Array<{ pid: number; command: string }>>;
  /** The last `lines` lines of an instance's log, each line labelled with digest, release and environment. */
  logs(id: string, lines?: number): Promise<string[]>;
  /** Removes stopped instances past retention and unpacked roots no live instance uses. */
  gc(): Promise<{ instances: number; roots: number }>;
  /** Stops everything (server shutdown keeps nothing running unless asked to detach). */
  close(): Promise<void>;
}
