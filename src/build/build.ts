import { type FileHandle, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { type Clock, type Digest, digestOf } from '../core/index.ts';
import { MEDIA_TYPES, type RegistryClient } from '../oci/index.ts';
import { readLock, resolveBaseImage, writeLock } from './base-image.ts';
import { checkLevel } from './block-compressor.ts';
import { makeLayers } from './build-layers.ts';
import { findMemo, reuseLayers, writeBuildMemo } from './build-memo.ts';
import { type BuildReferrersOptions, buildReferrers } from './build-referrers.ts';
import { assertCacheMaxBytes, type CachePruneResult, DEFAULT_CACHE_MAX_BYTES, pruneCache } from './cache-prune.ts';
import type { FileWatcher } from './fs-watch.ts';
import { type BaseImage, createImageConfig, createImageManifest, type LayerDescriptor } from './image-config.ts';
import { createLayerCache } from './layer-cache.ts';
import { runPrepare } from './prepare.ts';
import { createProvenanceStatement } from './provenance.ts';
import { publishImage } from './publish-image.ts';
import type { SignedEvidence } from './referrer-evidence.ts';

export type { SignedEvidence } from './referrer-evidence.ts';

import { readSourceInfo, type SourceInfo } from './source-info.ts';
import { readBuildSpec } from './spec-file.ts';

export const BUILDER_ID = 'https://fixity.dev/builder/local';

export interface BuildOptions {
  /** Directory holding fixity.yaml (the source root). */
  dir: string;
  cacheDir: string;
  /**
   * After a successful build, least-recently-used cache entries are removed until the cache holds at most
   * this many bytes (default DEFAULT_CACHE_MAX_BYTES); the entries this build used are kept.
   */
  cacheMaxBytes?: number;
  toolVersion: string;
  registry: RegistryClient;
  clock: Clock;
  compression?: 'gzip' | 'zstd';
  /** gzip 1–9 (default 6), zstd 1–19 (default 3); a level other than the default is recorded in provenance. */
  compressionLevel?: number;
  noCache?: boolean;
  updateBase?: boolean;
  sourceDateEpoch?: number;
  push?: readonly string[];
  ociLayout?: string;
  ociArchive?: string;
  signal?: AbortSignal;
  onEvent?: (event: BuildEvent) => void;
  /**
   * Signs a statement about the image (a builder key): its result replaces the unsigned DSSE envelope as the
   * referrer's single layer. The build room knows no keys; the caller wires the trust room in.
   */
  attest?: Attestor;
  /**
   * The file watcher (fs-watch.ts): with it, a build whose inputs and sources are unchanged since the last
   * build of them reuses that build's layers without reading the tree (build-memo.ts). Not with --no-cache.
   */
  watch?: FileWatcher | undefined;
}

/** Evidence as the attestor returns it: one referrer layer (e.g. a Sigstore bundle) and how to label it. */

export type Attestor = (input: {
  statement: object;
  predicateType: string;
  subject: { digest: Digest; size: number };
}) => Promise<SignedEvidence>;

export type BuildEvent =
  | { kind: 'source'; info: SourceInfo }
  | { kind: 'base'; name: string; digest: string; pinned: 'lock' | 'resolved' }
  | { kind: 'prepare'; line: string }
  | { kind: 'layer'; index: number; files: number; bytesIn: number; bytesOut: number; cached: boolean; done: boolean }
  | { kind: 'push'; ref: string; what: string; result: string }
  | { kind: 'warning'; message: string }
  /** What the file watcher said: nothing changed since the last build of these inputs, or why it cannot tell. */
  | { kind: 'watch'; unchanged: true }
  | { kind: 'watch'; unchanged: false; reason: string };

export interface BuildResult {
  digest: Digest;
  mediaType: string;
  size: number;
  name: string;
  version: string;
  refs: string[];
  config: { digest: Digest; size: number };
  layers: Array<LayerDescriptor & { cached: boolean; from: string | null }>;
  sourceDateEpoch: number;
  epochFrom: SourceInfo['epochFrom'];
  sourceTreeDigest: Digest;
  provenance: { digest: Digest; statement: object };
  sbom: { digest: Digest; statement: object };
  /** The cache pruned after the build; null when that failed (a `warning` event says why). */
  cache: CachePruneResult | null;
  /** Whether the sources were read, or known unchanged from the file watcher and the last build reused. */
  sources: 'read' | 'unchanged';
}

/** fixity.yaml + source → a reproducible OCI image, its provenance and SBOM, pushed and/or laid out. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  return (await buildImage(options, false))!;
}

/**
 * The build, when the file watcher vouches that nothing under the source root changed since the last build of
 * the same inputs and that build can be reused; otherwise null, having read no source file, run no `prepare`
 * and asked no registry (a base image or a builder key means null). The CLI tries it in its own process and
 * starts the process that reads sources, with its memory settings, only when this gives null.
 */
export async function buildIfUnchanged(options: BuildOptions): Promise<BuildResult | null> {
  return buildImage(options, true);
}

async function buildImage(options: BuildOptions, onlyUnchanged: boolean): Promise<BuildResult | null> {
  const { dir, cacheDir, toolVersion, registry, clock, compression = 'gzip', signal, onEvent } = options;
  // Only a level other than the default is named (layer keys, provenance), so default builds stay as they were.
  const level = checkLevel(compression, options.compressionLevel);
  const cacheMaxBytes = assertCacheMaxBytes(options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES);
  const startedOn = clock.now();
  const root = resolve(dir);
  // Unless --no-cache, files unchanged since an earlier build are neither hashed nor scanned again.
  const useCache = options.noCache !== true;
  // Asked before anything under the root is read: every change from here on is one the next build hears of.
  const watched = useCache && options.watch !== undefined ? await options.watch.sync(root) : null;
  const { spec, entry: specEntry } = await readBuildSpec(
    join(root, 'fixity.yaml'),
    useCache ? { dir: cacheDir, clock } : null,
  );
  const info = await readSourceInfo(root, { sourceDateEpoch: options.sourceDateEpoch });
  onEvent?.({ kind: 'source', info });

  let base: BaseImage | null = null;
  if (onlyUnchanged && (watched === null || spec.base !== 'scratch' || spec.prepare !== undefined || options.attest))
    return null;
  if (spec.base !== 'scratch') {
    const lockPath = join(root, 'fixity.lock');
    const resolved = await resolveBaseImage(registry, {
      ref: spec.base,
      platform: spec.platform,
      lock: await readLock(lockPath),
      update: options.updateBase === true,
    });
    base = resolved.base;
    if (resolved.pinned === 'resolved') await writeLock(lockPath, resolved.lock);
    onEvent?.({ kind: 'base', name: base.name, digest: base.digest, pinned: resolved.pinned });
  }

  const prepared =
    spec.prepare === undefined
      ? null
      : await runPrepare(root, spec.prepare, {
          ...(signal ? { signal } : {}),
          onOutput: (line) => onEvent?.({ kind: 'prepare', line }),
        });
  // The directory of a --no-cache build's SBOM envelope, removed when the build is over.
  let scratch: string | null = null;
  // Cache entries this build used or produced (kept when pruning), and the cached blobs it holds open.
  const used = new Set<string>(specEntry === null ? [] : [specEntry]);
  const opened: FileHandle[] = [];
  try {
    // A layer reads from the prepared copy only when its `from` is (inside) a declared output.
    const layerRoot = (from: string) =>
      prepared !== null && spec.prepare!.outputs.some((o) => from === o || from.startsWith(`${o}/`))
        ? prepared.workdir
        : root;
    const cache = createLayerCache(join(cacheDir, 'layers'), { clock });
    const memo =
      watched !== null && prepared === null && options.attest === undefined
        ? await findMemo({ cacheDir, watched, root, spec, info, base, toolVersion, compression, level })
        : null;
    if (memo !== null) used.add(memo.path);
    const reused = memo?.memo
      ? await reuseLayers(memo.memo, { cacheDir, realRoot: memo.realRoot, spec, cache, clock, onEvent })
      : null;
    if (onlyUnchanged && reused === null) return null;
    if (watched !== null) {
      onEvent?.(
        reused !== null
          ? { kind: 'watch', unchanged: true }
          : {
              kind: 'watch',
              unchanged: false,
              reason:
                'reason' in watched ? watched.reason : 'changed since the last build of these inputs, or none yet',
            },
      );
    }
    const made =
      reused ??
      (await makeLayers({
        ...{ spec, root, layerRoot, cacheDir, useCache, clock, used, signal, cache, toolVersion, onEvent, opened },
        ...{ mtime: info.sourceDateEpoch, compression, compressionLevel: level },
      }));
    const { layers } = made;
    if (reused !== null) opened.push(...layers.map((l) => l.file));
    const layerKeys = layers.map((l) => l.key);
    for (const key of layerKeys) used.add(cache.entry(key));

    const inputs = {
      spec,
      sourceDateEpoch: info.sourceDateEpoch,
      base,
      layers,
      source: { repository: info.repository, revision: info.revision },
    };
    const config = createImageConfig(inputs);
    const manifest = createImageManifest(inputs, config);
    const digest = digestOf(manifest);
    if (reused !== null && digest !== memo?.memo?.digest) {
      // The memo's inputs left out something that changes the image: it goes, and the sources are read.
      await rm(memo!.path, { force: true });
      return onlyUnchanged ? null : build({ ...options, watch: undefined });
    }
    const { sourceTreeDigest } = made;
    const subject = { name: spec.name, digest };
    const provenance = createProvenanceStatement({
      subject,
      spec,
      source: { repository: info.repository, revision: info.revision, path: relative(process.cwd(), root) || '.' },
      builder: { id: BUILDER_ID, version: toolVersion },
      toolVersion,
      compression,
      ...(level === undefined ? {} : { compressionLevel: level }),
      sourceDateEpoch: info.sourceDateEpoch,
      base: base === null ? null : { name: base.name, digest: base.digest },
      sourceTreeDigest,
      prepare:
        prepared === null
          ? null
          : {
              command: prepared.command,
              env: prepared.env,
              network: prepared.network,
              sandbox: prepared.sandbox,
              tools: prepared.tools,
            },
      layers: layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
      startedOn: startedOn.toISOString(),
      finishedOn: clock.now().toISOString(),
    });
    let envelope: BuildReferrersOptions['envelope'];
    if (!useCache && options.attest === undefined) {
      // --no-cache writes nothing under the cache directory: its envelope goes to a temporary directory.
      scratch = await mkdtemp(join(tmpdir(), 'fixity-sbom-'));
      envelope = { dir: scratch };
    } else {
      envelope = { cacheDir, key: () => made.sbomKey(digest), clock };
    }
    const { evidence, sbomStatement } = await buildReferrers({
      subject,
      manifestSize: manifest.byteLength,
      epoch: info.sourceDateEpoch,
      provenance,
      sbomInput: () => made.sbomInput(digest),
      attest: options.attest,
      envelope,
      used,
      opened,
    });

    const refs = await publishImage({
      registry,
      baseRef: spec.base,
      base,
      manifest,
      digest,
      config,
      configDigest: digestOf(config),
      layers,
      evidence,
      refName: spec.version,
      push: options.push,
      ociLayout: options.ociLayout,
      ociArchive: options.ociArchive,
      onEvent,
    });
    if (memo !== null && reused === null && watched !== null && 'token' in watched) {
      const { token, generation } = watched;
      const kept = { token, generation, digest, sourceTreeDigest, sbomKey: made.sbomKey(digest), linked: made.linked };
      await writeBuildMemo(memo.path, {
        ...kept,
        layers: layers.map((l, i) => ({ key: l.key, files: made.files[i]! })),
      });
    }
    let pruned: CachePruneResult | null = null;
    try {
      pruned = await pruneCache(cacheDir, { maxBytes: cacheMaxBytes, keep: used, clock });
    } catch (err) {
      // The image is built: a cache that cannot be pruned is worth a warning, not a failed build.
      onEvent?.({ kind: 'warning', message: `Cannot prune the build cache in ${cacheDir}: ${(err as Error).message}` });
    }
    return {
      digest,
      mediaType: MEDIA_TYPES.imageManifest,
      size: manifest.byteLength,
      name: spec.name,
      version: spec.version,
      refs,
      config: { digest: digestOf(config), size: config.byteLength },
      layers: [
        ...(base?.layers ?? []).map((l) => ({ ...l, cached: true, from: base!.name })),
        ...layers.map(({ file: _f, uncompressedSize: _u, key: _k, ...l }) => ({ ...l, from: null })),
      ],
      sourceDateEpoch: info.sourceDateEpoch,
      epochFrom: info.epochFrom,
      sourceTreeDigest,
      provenance: { digest: evidence[0]!.digest, statement: provenance },
      sbom: {
        digest: evidence[1]!.digest,
        get statement() {
          return sbomStatement();
        },
      },
      cache: pruned,
      sources: reused === null ? 'read' : 'unchanged',
    };
  } finally {
    await Promise.all(opened.map((file) => file.close()));
    if (scratch !== null) await rm(scratch, { recursive: true, force: true });
    if (prepared !== null) await rm(dirname(prepared.workdir), { recursive: true, force: true });
  }
}
