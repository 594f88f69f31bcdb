/**
 * The first step of a build: every layer's entries listed and hashed (or their digests taken from the digest
 * cache), and the packaged files scanned for secrets.
 *
 * It is a function of its own so that what only this step needs dies when it returns: the digest cache's rows
 * and the scan memo's keys (34 MB of 84 live after hashing 90k files into an empty cache) were kept alive by
 * the closures of build() until the image was written, and counted in the peak of the steps after.
 */
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/index.ts';
import { BuildError } from './build-error.ts';
import { type FileDigestCache, openDigestCache } from './digest-cache.ts';
import { openScanMemo } from './scan-memo.ts';
import { createSecretScanner, formatFindings } from './secret-scan.ts';
import { collectLayer, type FileEntry, sourcePath } from './source-tree.ts';
import { type BuildSpec, toMode } from './spec.ts';

export interface CollectSourcesOptions {
  spec: BuildSpec;
  /** The source root (where fixity.yaml is). */
  root: string;
  /** The host directory a layer's `from` is relative to: the source root or the prepared copy. */
  layerRoot: (from: string) => string;
  cacheDir: string;
  /** Whether files unchanged since an earlier build are neither hashed nor scanned again. */
  useCache: boolean;
  clock: Clock;
  /** Cache entries used are added here (kept when pruning). */
  used: Set<string>;
  signal?: AbortSignal | undefined;
}

/** Each layer's entries (see collectLayer); SECRET_FOUND when a packaged file holds a likely secret. */
export async function collectSources(options: CollectSourcesOptions): Promise<FileEntry[][]> {
  const { spec, root, layerRoot, cacheDir, useCache, clock, used, signal } = options;
  const digestCaches = new Map<string, Promise<FileDigestCache>>();
  const digestsFor = (from: string) => {
    let cache = digestCaches.get(from);
    if (cache === undefined) {
      cache = realpath(from)
        .catch(() => from)
        .then((real) => openDigestCache(join(cacheDir, 'files'), real, { clock }));
      digestCaches.set(from, cache);
    }
    return cache;
  };
  const memo = useCache ? await openScanMemo(join(cacheDir, 'secrets'), root, { clock }) : undefined;
  if (memo !== undefined) used.add(memo.file);
  const scanner = createSecretScanner({ allow: spec.secrets?.allow ?? [], signal, clean: memo });
  // Files read to hash them are scanned from the same bytes; the scanner reads only what is left.
  const onContent = (entry: FileEntry, content: Buffer) =>
    scanner.scanContent(
      { path: entry.path, source: sourcePath(entry), size: entry.size, digest: entry.digest },
      content,
    );
  const collected: FileEntry[][] = [];
  for (const layer of spec.layers) {
    const from = join(layerRoot(layer.from), layer.from);
    // A prepared copy is new each build, so its files have nothing to remember.
    const digests = useCache && layerRoot(layer.from) === root ? await digestsFor(from) : undefined;
    collected.push(
      await collectLayer(
        {
          from,
          to: layer.to,
          ...(layer.include ? { include: layer.include } : {}),
          ...(layer.exclude ? { exclude: layer.exclude } : {}),
          ...(layer.modes
            ? { modes: Object.fromEntries(Object.entries(layer.modes).map(([g, m]) => [g, toMode(m)])) }
            : {}),
        },
        { onContent, ...(signal ? { signal } : {}), ...(digests ? { digests } : {}) },
      ),
    );
  }
  for (const pending of digestCaches.values()) {
    const cache = await pending;
    used.add(cache.file);
    await cache.save();
  }
  const findings = await scanner.finish(
    (function* () {
      for (const entries of collected) {
        for (const f of entries) {
          if (f.type === 'file' && f.source !== null)
            yield { path: f.path, source: sourcePath(f), size: f.size, digest: f.digest };
        }
      }
    })(),
  );
  await memo?.save();
  if (findings.length > 0) {
    throw new BuildError(
      'SECRET_FOUND',
      `Cannot build ${spec.name}: ${findings.length} likely secret(s) in packaged files\n${formatFindings(findings)}`,
      { detail: { findings } },
    );
  }
  return collected;
}
