/**
 * The outputs of a build: the image pushed to each `--push` reference (base layers mounted from the base's
 * repository when it is on the same registry, else copied; then config, layers, the manifest and the evidence
 * referrers), and written as an OCI image layout and/or archive. Returns the pushed references, by digest.
 */
import type { Digest } from '../core/index.ts';
import {
  type LayoutBlob,
  MEDIA_TYPES,
  parseReference,
  type RegistryClient,
  writeImageArchive,
  writeImageLayout,
} from '../oci/index.ts';
import type { BuildEvent } from './build.ts';
import type { BuiltLayer } from './build-layers.ts';
import type { BaseImage } from './image-config.ts';
import { emptyBlob, type referrerArtifact } from './referrer-evidence.ts';

export interface PublishImageOptions {
  registry: RegistryClient;
  /** The base as fixity.yaml names it, and as resolved (null for scratch). */
  baseRef: string;
  base: BaseImage | null;
  manifest: Uint8Array;
  digest: Digest;
  config: Uint8Array;
  configDigest: Digest;
  layers: readonly BuiltLayer[];
  evidence: ReadonlyArray<ReturnType<typeof referrerArtifact>>;
  /** The reference name of the image in a layout or archive (the spec's version). */
  refName: string;
  push?: readonly string[] | undefined;
  ociLayout?: string | undefined;
  ociArchive?: string | undefined;
  onEvent?: ((event: BuildEvent) => void) | undefined;
}

/** Pushes and writes the image as asked; see the top of this file. */
export async function publishImage(options: PublishImageOptions): Promise<string[]> {
  const { registry, baseRef, base, manifest, digest, config, evidence, onEvent } = options;
  const blobs: LayoutBlob[] = [
    {
      digest: options.configDigest,
      size: config.byteLength,
      open: () =>
        (async function* () {
          yield config;
        })(),
    },
    ...options.layers.map((l) => ({
      digest: l.digest,
      size: l.size,
      open: () => l.file.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 }),
    })),
  ];
  const baseBlobs: LayoutBlob[] = (base?.layers ?? []).map((b) => ({
    digest: b.digest,
    size: b.size,
    open: () => registry.getBlob(parseReference(baseRef), b.digest, b.size),
  }));
  const refs: string[] = [];
  for (const target of options.push ?? []) {
    const ref = parseReference(target);
    const sameRegistry = base !== null && parseReference(baseRef).registry === ref.registry;
    for (const b of baseBlobs) {
      const result = await registry.pushBlob(
        ref,
        b,
        sameRegistry ? { mountFrom: parseReference(baseRef).repository } : {},
      );
      onEvent?.({ kind: 'push', ref: target, what: `base layer ${b.digest.slice(7, 19)}`, result });
    }
    for (const b of [...blobs, emptyBlob]) {
      const result = await registry.pushBlob(ref, b);
      onEvent?.({ kind: 'push', ref: target, what: `blob ${b.digest.slice(7, 19)}`, result });
    }
    await registry.pushManifest(ref, ref.tag ?? digest, manifest, MEDIA_TYPES.imageManifest);
    for (const e of evidence) {
      await registry.pushBlob(ref, e.layer);
      await registry.pushReferrer(ref, e.manifest, MEDIA_TYPES.imageManifest, digest, {
        artifactType: e.artifactType,
        annotations: e.annotations,
      });
    }
    refs.push(`${ref.registry}/${ref.repository}@${digest}`);
    onEvent?.({ kind: 'push', ref: target, what: 'manifest', result: digest });
  }
  if (options.ociLayout !== undefined || options.ociArchive !== undefined) {
    const image = {
      manifest: { bytes: manifest, mediaType: MEDIA_TYPES.imageManifest, digest },
      blobs: [...baseBlobs, ...blobs],
      refName: options.refName,
    };
    if (options.ociLayout !== undefined) await writeImageLayout(options.ociLayout, image);
    if (options.ociArchive !== undefined) await writeImageArchive(options.ociArchive, image);
  }
  return refs;
}
