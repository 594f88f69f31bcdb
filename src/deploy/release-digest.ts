import { canonicalBytes, type Digest, digestOf } from '../core/index.ts';
import type { HealthSpec } from '../runtime/index.ts';
import type { EnvironmentSpec, ServiceSpec } from './environment-spec.ts';

/**
 * Everything that decides how one instance behaves, apart from its image. Replicas, strategy and router are
 * left out on purpose: scaling or changing how a rollout proceeds must not make a new release.
 */
export interface ReleaseConfig {
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
  readonly health: HealthSpec;
  /** Secret names and where they come from; the values are resolved at start and never hashed. */
  readonly secrets: ReadonlyArray<{ readonly name: string; readonly ref: string }>;
}

/**
 * The release config of `service`. `environment` is taken so environment-wide settings can join the config
 * without changing callers; today nothing of it does (the same service config in two environments is one release).
 */
export function releaseConfig(service: ServiceSpec, _environment: EnvironmentSpec): ReleaseConfig {
  const { readiness, liveness, startupTimeoutMs } = service.health;
  return {
    env: { ...service.env },
    port: service.port,
    health: liveness === undefined ? { readiness, startupTimeoutMs } : { readiness, liveness, startupTimeoutMs },
    // Sorted so the order secrets are listed in does not make a new release.
    secrets: service.secrets
      .map(({ name, ref }) => ({ name, ref }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** sha256 of the RFC 8785 canonical JSON of the config. */
export function configDigest(config: ReleaseConfig): Digest {
  return digestOf(canonicalBytes(config));
}

/** sha256 of the canonical JSON `{"config": <config digest>, "image": <image digest>}`. */
export function releaseDigest(image: Digest, configDigest: Digest): Digest {
  return digestOf(canonicalBytes({ config: configDigest, image }));
}
