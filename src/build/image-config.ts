import { canonicalBytes, type Digest, digestOf } from '../core/index.ts';
import { MEDIA_TYPES } from '../oci/index.ts';
import type { BuildSpec } from './spec.ts';

export interface LayerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  diffId: Digest;
}

export interface BaseImage {
  name: string;
  digest: Digest;
  /** The base's config `config` section (env, entrypoint …) that ours extends. */
  config: Record<string, unknown>;
  layers: LayerDescriptor[];
  history: unknown[];
}

export interface ImageInputs {
  spec: BuildSpec;
  sourceDateEpoch: number;
  base: BaseImage | null;
  layers: LayerDescriptor[];
  source: { repository: string | null; revision: string | null };
}

const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');

/** The image config (image-spec config.md) as canonical JSON bytes, so equal inputs give equal digests. */
export function createImageConfig(inputs: ImageInputs): Uint8Array {
  const { spec, base, layers, sourceDateEpoch } = inputs;
  const [os, architecture, variant] = spec.platform.split('/') as [string, string, string | undefined];
  const baseConfig = base?.config ?? {};
  const env = mergeEnv((baseConfig.Env as string[] | undefined) ?? [], spec.env ?? {});
  const config: Record<string, unknown> = { ...baseConfig };
  if (env.length > 0) config.Env = env;
  if (spec.entrypoint !== undefined) config.Entrypoint = spec.entrypoint;
  if (spec.cmd !== undefined) config.Cmd = spec.cmd;
  else if (spec.entrypoint !== undefined) delete config.Cmd;
  if (spec.workdir !== undefined) config.WorkingDir = spec.workdir;
  if (spec.user !== undefined) config.User = spec.user;
  if (spec.exposedPorts !== undefined) {
    config.ExposedPorts = Object.fromEntries(
      spec.exposedPorts.map((p) => [String(p).includes('/') ? String(p) : `${p}/tcp`, {}]),
    );
  }
  if (spec.labels !== undefined)
    config.Labels = { ...((baseConfig.Labels as object | undefined) ?? {}), ...spec.labels };
  const created = iso(sourceDateEpoch);
  return canonicalBytes({
    created,
    architecture,
    os,
    ...(variant === undefined ? {} : { variant }),
    config,
    rootfs: { type: 'layers', diff_ids: [...(base?.layers ?? []), ...layers].map((l) => l.diffId) },
    history: [
      ...(base?.history ?? []),
      ...layers.map((_, i) => ({
        created,
        created_by: `fixity build: ${spec.name} layer ${i} (${spec.layers[i]?.to ?? ''})`,
      })),
    ],
  });
}

/** The image manifest, with the standard annotations; key order is fixed so the bytes are reproducible. */
export function createImageManifest(inputs: ImageInputs, config: Uint8Array): Uint8Array {
  const { spec, base, layers, sourceDateEpoch, source } = inputs;
  const annotations: Record<string, string> = {
    'org.opencontainers.image.created': iso(sourceDateEpoch),
    'org.opencontainers.image.title': spec.name,
    'org.opencontainers.image.version': spec.version,
    ...(source.repository === null ? {} : { 'org.opencontainers.image.source': source.repository }),
    ...(source.revision === null ? {} : { 'org.opencontainers.image.revision': source.revision }),
    ...(base === null
      ? {}
      : { 'org.opencontainers.image.base.name': base.name, 'org.opencontainers.image.base.digest': base.digest }),
    ...spec.annotations,
  };
  return canonicalBytes({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.imageManifest,
    config: { mediaType: MEDIA_TYPES.imageConfig, digest: digestOf(config), size: config.byteLength },
    layers: [...(base?.layers ?? []), ...layers].map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    annotations,
  });
}

// Image env overrides base env by variable name, keeping the base's order and appending new names sorted.
function mergeEnv(base: string[], ours: Record<string, string>): string[] {
  const names = new Set(Object.keys(ours));
  const kept = base.filter((e) => !names.has(e.slice(0, e.indexOf('='))));
  return [
    ...kept,
    ...Object.keys(ours)
      .sort()
      .map((k) => `${k}=${ours[k]}`),
  ];
}
