import { createHash } from 'node:crypto';
import { type FileHandle, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { type Clock, type Digest, digestOf } from '../core/index.ts';
import {
  type LayoutBlob,
  MEDIA_TYPES,
  parseReference,
  type RegistryClient,
  writeImageArchive,
  writeImageLayout,
} from '../oci/index.ts';
import { readLock, resolveBaseImage, writeLock } from './base-image.ts';
import { assertCacheMaxBytes, type CachePruneResult, DEFAULT_CACHE_MAX_BYTES, pruneCache } from './cache-prune.ts';
import { collectGarbage } from './collect-garbage.ts';
import { collectSources } from './collect-sources.ts';
import { createEvidenceCache } from './evidence-cache.ts';
import { type BaseImage, createImageConfig, createImageManifest, type LayerDescriptor } from './image-config.ts';
import { createLayerCache } from './layer-cache.ts';
import { writeLayer } from './layer-tar.ts';
import { findPackages } from './lockfiles.ts';
import { runPrepare } from './prepare.ts';
import { createProvenanceStatement, createSBOMStatement, PROVENANCE_PREDICATE_TYPE } from './provenance.ts';
import {
  blobEvidence,
  emptyBlob,
  fileEvidence,
  referrerArtifact,
  type SignedEvidence,
  unsignedEvidence,
} from './referrer-evidence.ts';
import { createSPDXDocument, SBOM_PREDICATE_TYPE, type SBOMFile, type SBOMInput } from './sbom.ts';
import { createSBOMEvidence, type SBOMEvidenceTarget } from './sbom-evidence.ts';

export type { SignedEvidence } from './referrer-evidence.ts';

import { readSourceInfo, type SourceInfo } from './source-info.ts';
import { type FileEntry, sourcePath } from './source-tree.ts';
import { loadBuildSpec } from './spec.ts';

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
  | { kind: 'warning'; message: string };

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
}

/** fixity.yaml + source → a reproducible OCI image, its provenance and SBOM, pushed and/or laid out. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const { dir, cacheDir, toolVersion, registry, clock, compression = 'gzip', signal, onEvent } = options;
  const cacheMaxBytes = assertCacheMaxBytes(options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES);
  const startedOn = clock.now();
  const root = resolve(dir);
  const spec = await loadBuildSpec(join(root, 'fixity.yaml'));
  const info = await readSourceInfo(root, { sourceDateEpoch: options.sourceDateEpoch });
  onEvent?.({ kind: 'source', info });

  let base: BaseImage | null = null;
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
  const used = new Set<string>();
  const opened: FileHandle[] = [];
  try {
    // A layer reads from the prepared copy only when its `from` is (inside) a declared output.
    const layerRoot = (from: string) =>
      prepared !== null && spec.prepare!.outputs.some((o) => from === o || from.startsWith(`${o}/`))
        ? prepared.workdir
        : root;
    // Unless --no-cache, files unchanged since an earlier build are neither hashed nor scanned again.
    const useCache = options.noCache !== true;
    const cache = createLayerCache(join(cacheDir, 'layers'), { clock });
    // A build that packs every layer (--no-cache, or no layer cached to find) hashes files as it packs them, so
    // each is read once; otherwise the layer keys, which need every digest, come first.
    const hashWhilePacking = !useCache || (await cache.isEmpty());
    const sources = await collectSources({
      spec,
      root,
      layerRoot,
      cacheDir,
      useCache,
      clock,
      used,
      signal,
      hashWhilePacking,
    });
    const collected = sources.layers;
    let packed = 0; // layers packed, not found in the cache: only then is there garbage worth a collection
    const keyOf = (entries: FileEntry[]) =>
      cache.key({
        entries: entries as unknown as Array<Record<string, unknown>>,
        mtime: info.sourceDateEpoch,
        compression,
        toolVersion,
      });
    const settled = await Promise.allSettled(
      collected.map(async (entries, index) => {
        const pending = sources.pending[index]!;
        // A layer with files pending has no key until they are hashed, in the pack.
        const key = pending.files.size === 0 ? keyOf(entries) : null;
        const hit = key === null || !useCache ? null : await cache.get(key);
        if (hit !== null) {
          onEvent?.({
            kind: 'layer',
            index,
            files: entries.length,
            bytesIn: hit.uncompressedSize,
            bytesOut: hit.size,
            cached: true,
            done: true,
          });
          return { ...hit, cached: true, key: key! };
        }
        let madeKey = key;
        const made = await cache.put(
          () => (madeKey ??= keyOf(entries)),
          async (out) => {
            if (packed++ === 0) collectGarbage();
            const r = await writeLayer(entries, {
              mtime: info.sourceDateEpoch,
              compression,
              out,
              pending: pending.files,
              onHashed: pending.onHashed,
              ...(signal ? { signal } : {}),
              onProgress: (p) => onEvent?.({ kind: 'layer', index, ...p, cached: false, done: false }),
            });
            return {
              mediaType: r.mediaType,
              digest: r.digest,
              size: r.size,
              diffId: r.diffId,
              uncompressedSize: r.uncompressedSize,
            };
          },
        );
        onEvent?.({
          kind: 'layer',
          index,
          files: entries.length,
          bytesIn: made.uncompressedSize,
          bytesOut: made.size,
          cached: false,
          done: true,
        });
        return { ...made, cached: false, key: madeKey! };
      }),
    );
    // Every layer settled first, so no blob opened after the failure of another is left unclosed.
    for (const r of settled) if (r.status === 'fulfilled') opened.push(r.value.file);
    const layers = settled.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    await sources.finish(); // what packing hashed is remembered and scanned: SECRET_FOUND stops the build here
    const layerKeys = layers.map((l) => l.key);
    if (packed > 0) collectGarbage();
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
    const sourceTreeDigest = treeDigest(collected);

    const sbomInput = async (): Promise<SBOMInput> => ({
      name: spec.name,
      version: spec.version,
      imageDigest: digest,
      created: new Date(info.sourceDateEpoch * 1000).toISOString(),
      files: imageFiles(collected),
      // Host paths are made only for the few files read (lock files, package manifests).
      packages: await findPackages(
        collected.flat().filter((e) => e.type === 'file' && e.source !== null),
        sourcePath,
      ),
      toolVersion,
    });
    const subject = { name: spec.name, digest };
    const provenance = createProvenanceStatement({
      subject,
      spec,
      source: { repository: info.repository, revision: info.revision, path: relative(process.cwd(), root) || '.' },
      builder: { id: BUILDER_ID, version: toolVersion },
      toolVersion,
      compression,
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
    const subjectDescriptor = { digest, size: manifest.byteLength };
    const provenanceStatement = { statement: provenance, predicateType: PROVENANCE_PREDICATE_TYPE };
    let sbomStatement: () => object;
    let evidence: Array<ReturnType<typeof referrerArtifact>>;
    if (options.attest === undefined) {
      // Unsigned, the SBOM envelope is streamed to a file, or reused when every input of it is unchanged: the
      // layer keys name every packaged path and content, and the image digest everything else in the image.
      const store = createEvidenceCache(join(cacheDir, 'evidence'), { clock });
      // Layer keys leave out the SHA-1s (the layer's bytes follow from the SHA-256s); the SBOM lists them.
      const sha1s = createHash('sha256');
      for (const entries of collected) for (const e of entries) if (e.sha1 !== null) sha1s.update(e.sha1);
      const key = [spec.name, spec.version, digest, info.sourceDateEpoch, toolVersion, layerKeys, sha1s.digest('hex')];
      // --no-cache writes nothing under the cache directory: its envelope goes to a temporary directory.
      if (!useCache) scratch = await mkdtemp(join(tmpdir(), 'fixity-sbom-'));
      const target: SBOMEvidenceTarget =
        scratch === null
          ? { kind: 'cache', store, key: await store.key(key) }
          : { kind: 'file', path: join(scratch, 'envelope') };
      if (target.kind === 'cache') used.add(store.entry(target.key));
      const sbom = await createSBOMEvidence({ subject, input: sbomInput, target });
      opened.push(sbom.blob.file);
      sbomStatement = sbom.statement;
      evidence = [
        referrerArtifact(
          unsignedEvidence(provenance, PROVENANCE_PREDICATE_TYPE),
          subjectDescriptor,
          info.sourceDateEpoch,
        ),
        referrerArtifact(fileEvidence(sbom.blob, SBOM_PREDICATE_TYPE), subjectDescriptor, info.sourceDateEpoch),
      ];
    } else {
      const attest = options.attest;
      const statement = createSBOMStatement(subject, createSPDXDocument(await sbomInput()));
      sbomStatement = () => statement;
      evidence = await Promise.all(
        [provenanceStatement, { statement, predicateType: SBOM_PREDICATE_TYPE }].map(async (e) =>
          referrerArtifact(
            blobEvidence(await attest({ ...e, subject: subjectDescriptor })),
            subjectDescriptor,
            info.sourceDateEpoch,
          ),
        ),
      );
    }

    const blobs: LayoutBlob[] = [
      {
        digest: digestOf(config),
        size: config.byteLength,
        open: () =>
          (async function* () {
            yield config;
          })(),
      },
      ...layers.map((l) => ({
        digest: l.digest,
        size: l.size,
        open: () => l.file.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 }),
      })),
    ];
    const refs: string[] = [];
    for (const target of options.push ?? []) {
      const ref = parseReference(target);
      for (const b of base?.layers ?? []) {
        const sameRegistry = base !== null && parseReference(spec.base).registry === ref.registry;
        const result = await registry.pushBlob(
          ref,
          {
            digest: b.digest,
            size: b.size,
            open: () => registry.getBlob(parseReference(spec.base), b.digest, b.size),
          },
          sameRegistry ? { mountFrom: parseReference(spec.base).repository } : {},
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
      const baseBlobs: LayoutBlob[] = (base?.layers ?? []).map((b) => ({
        digest: b.digest,
        size: b.size,
        open: () => registry.getBlob(parseReference(spec.base), b.digest, b.size),
      }));
      const image = {
        manifest: { bytes: manifest, mediaType: MEDIA_TYPES.imageManifest, digest },
        blobs: [...baseBlobs, ...blobs],
        refName: spec.version,
      };
      if (options.ociLayout !== undefined) await writeImageLayout(options.ociLayout, image);
      if (options.ociArchive !== undefined) await writeImageArchive(options.ociArchive, image);
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
    };
  } finally {
    await Promise.all(opened.map((file) => file.close()));
    if (scratch !== null) await rm(scratch, { recursive: true, force: true });
    if (prepared !== null) await rm(dirname(prepared.workdir), { recursive: true, force: true });
  }
}

/**
 * The digest of the canonical JSON of one row per entry, `[path, type, mode, digest, linkname]`. For arrays of
 * strings, finite numbers and nulls that is exactly what JSON.stringify writes, at a fraction of the cost for
 * 100k files; it is hashed in 64 KiB pieces rather than made as one string.
 */
function treeDigest(layers: FileEntry[][]): Digest {
  const hash = createHash('sha256');
  let text = '[';
  let first = true;
  for (const entries of layers) {
    for (const e of entries) {
      text += `${first ? '' : ','}${JSON.stringify([e.path, e.type, e.mode, e.digest, e.linkname])}`;
      first = false;
      if (text.length >= 1 << 16) {
        hash.update(text);
        text = '';
      }
    }
  }
  hash.update(`${text}]`);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * The regular files of the image (hardlinks too, each a path to the same content), each path as the last
 * layer holding it leaves it: a later layer's entry hides an earlier one's, as on unpacking. The entries
 * themselves, not copies (90k objects): those of files and hardlinks have their digests set.
 */
function imageFiles(layers: FileEntry[][]): SBOMFile[] {
  const byPath = new Map<string, FileEntry>();
  for (const entries of layers) for (const entry of entries) byPath.set(entry.path, entry);
  return [...byPath.values()].filter((e) => e.type === 'file' || e.type === 'hardlink') as SBOMFile[];
}
