/**
 * What a build leaves for the next one with the same inputs to reuse while the file watcher
 * (fs-watch-daemon.ts) sees nothing change under the source root: the watcher's token and generation at the
 * start of the build, the layers' cache keys, and what the image's evidence was made from. A build that finds
 * its memo, the root unchanged since, every file with several links (which can change through a path outside
 * the root, unseen) as it was, and every cached blob still there, takes its layers from the cache without
 * listing, hashing or scanning a file; anything else and it builds as if there were no memo.
 *
 * Memos live in the build cache under `builds/`, one file per set of inputs: the tool, the Node major, the
 * code of the build room, the source root, the parsed fixity.yaml, the source info (revision, epoch), the base
 * image and the compression. Outputs (--push, --oci-layout) and times are not inputs of the image.
 */
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, canonicalJSON, type Digest } from '../core/index.ts';
import type { BuildEvent } from './build.ts';
import type { BuiltLayer, MadeLayers } from './build-layers.ts';
import { stampOf } from './digest-cache.ts';
import { createEvidenceCache } from './evidence-cache.ts';
import { unchangedSince, type WatchSync } from './fs-watch.ts';
import type { BaseImage } from './image-config.ts';
import type { LayerCache } from './layer-cache.ts';
import { buildRoomCode } from './room-code.ts';
import type { SourceInfo } from './source-info.ts';
import type { BuildSpec } from './spec.ts';
import { writeFileAtomic } from './write-file-atomic.ts';

const VERSION = 1;

export interface BuildMemo {
  version: typeof VERSION;
  /** The watcher's token and generation when the build that wrote the memo began (see WatchSync). */
  token: string;
  generation: number;
  /** The image manifest's digest: the reusing build makes the manifest again and must arrive at it. */
  digest: Digest;
  layers: Array<{ key: string; files: number }>;
  sourceTreeDigest: Digest;
  /** The SBOM envelope's evidence-cache key inputs (see build.ts). */
  sbomKey: unknown[];
  /** Files with more than one link: host path and stamp (digest-cache.ts). */
  linked: Array<[path: string, stamp: string]>;
}

/** The memo's name for a build's inputs (see the top of this file). */
export async function memoKey(inputs: Record<string, unknown>): Promise<string> {
  const node = process.versions.node.split('.')[0];
  return createHash('sha256')
    .update(canonicalJSON({ version: VERSION, node, code: await buildRoomCode(), ...inputs }))
    .digest('hex');
}

export function memoPath(cacheDir: string, key: string): string {
  return join(cacheDir, 'builds', `${key}.json`);
}

/** The memo at `path`, or null when there is none that this version reads. */
export async function readBuildMemo(path: string): Promise<BuildMemo | null> {
  try {
    const memo = JSON.parse(await readFile(path, 'utf8')) as BuildMemo;
    const ok =
      memo.version === VERSION &&
      typeof memo.token === 'string' &&
      Number.isSafeInteger(memo.generation) &&
      Array.isArray(memo.layers) &&
      Array.isArray(memo.linked) &&
      Array.isArray(memo.sbomKey);
    return ok ? memo : null;
  } catch {
    return null;
  }
}

export async function writeBuildMemo(path: string, memo: Omit<BuildMemo, 'version'>): Promise<void> {
  await writeFileAtomic(path, JSON.stringify({ version: VERSION, ...memo }));
}

/**
 * The memo of a build with these inputs (its path, and the memo when there is one whose root has not changed
 * since, by the watcher's answer `watched`), or null when the watcher could not tell.
 */
export async function findMemo(options: {
  cacheDir: string;
  watched: WatchSync | { reason: string };
  root: string;
  spec: BuildSpec;
  info: SourceInfo;
  base: BaseImage | null;
  toolVersion: string;
  compression: string;
  level: number | undefined;
}): Promise<{ path: string; memo: BuildMemo | null; realRoot: string } | null> {
  const { cacheDir, watched, spec, info, toolVersion, compression } = options;
  if (!('token' in watched)) return null;
  const root = await realpath(options.root);
  const base = options.base && { name: options.base.name, digest: options.base.digest };
  const key = await memoKey({ toolVersion, root, spec, info, base, compression, level: options.level ?? null });
  const path = memoPath(cacheDir, key);
  const memo = await readBuildMemo(path);
  return { path, memo: memo !== null && unchangedSince(memo, watched) ? memo : null, realRoot: root };
}

/**
 * The memo's layers, open, from the layer cache, or null when the memo cannot be used: a layer's `from` that
 * leads outside the root (where the watcher does not look), a file with several links changed, or a layer
 * or the SBOM envelope no longer in the cache. Announces each layer as cached.
 */
export async function reuseLayers(
  memo: BuildMemo,
  options: {
    cacheDir: string;
    /** The source root, symlinks resolved (as findMemo gives it). */
    realRoot: string;
    spec: BuildSpec;
    cache: LayerCache;
    clock: Clock;
    onEvent?: ((event: BuildEvent) => void) | undefined;
  },
): Promise<MadeLayers | null> {
  const { cache, onEvent, realRoot: root } = options;
  for (const layer of options.spec.layers) {
    const from = await realpath(join(root, layer.from)).catch(() => null);
    if (from === null || (from !== root && !from.startsWith(`${root}/`))) return null;
  }
  if (!linksUnchanged(memo)) return null;
  const evidence = createEvidenceCache(join(options.cacheDir, 'evidence'), { clock: options.clock });
  const envelope = await evidence.get(await evidence.key(memo.sbomKey));
  if (envelope === null) return null;
  await envelope.file.close();
  const layers: BuiltLayer[] = [];
  for (const { key } of memo.layers) {
    const hit = await cache.get(key);
    if (hit === null) {
      await Promise.all(layers.map((l) => l.file.close()));
      return null;
    }
    layers.push({ ...hit, cached: true, key });
  }
  for (const [index, layer] of layers.entries()) {
    const files = memo.layers[index]!.files;
    onEvent?.({
      kind: 'layer',
      index,
      files,
      bytesIn: layer.uncompressedSize,
      bytesOut: layer.size,
      cached: true,
      done: true,
    });
  }
  return {
    layers,
    files: memo.layers.map((l) => l.files),
    sourceTreeDigest: memo.sourceTreeDigest,
    sbomInput: () => Promise.reject(new Error('the SBOM of a reused build comes from the evidence cache')),
    sbomKey: () => memo.sbomKey,
    linked: memo.linked,
  };
}

/** Whether every file with several links still has the stamp the memo holds. */
export function linksUnchanged(memo: BuildMemo): boolean {
  for (const [path, stamp] of memo.linked) {
    try {
      if (stampOf(lstatSync(path, { bigint: true })) !== stamp) return false;
    } catch {
      return false;
    }
  }
  return true;
}
