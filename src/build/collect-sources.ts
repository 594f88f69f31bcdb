/**
 * The first step of a build: every layer's entries listed and hashed (or their digests taken from the digest
 * cache), and the packaged files scanned for secrets.
 *
 * It is a function of its own so that what only this step needs dies when it returns: the digest cache's rows
 * and the scan memo's keys (34 MB of 84 live after hashing 90k files into an empty cache) were kept alive by
 * the closures of build() until the image was written, and counted in the peak of the steps after.
 *
 * A build that packs every layer anyway (`hashWhilePacking`) leaves the files it would read only to hash them
 * for the pack to hash (pack-entries.ts), so each is read once; the step then ends with `finish()`, after the
 * layers are written. Files the pack does not see whole (over its 1 MiB buffer) are still hashed here: the
 * secret scan needs their text whole, and reading them again after packing, beside zlib's buffers, raised
 * the build's peak memory by ~30 MB.
 */
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/index.ts';
import { BuildError } from './build-error.ts';
import { collectGarbage, LARGE_GARBAGE } from './collect-garbage.ts';
import { type FileDigestCache, openDigestCache, stampOf } from './digest-cache.ts';
import { type PackOptions, packsWhole } from './pack-entries.ts';
import { openScanMemo, scannerVersion } from './scan-memo.ts';
import { createSecretScanner, formatFindings, type ScannedFile, type SecretScanner } from './secret-scan.ts';
import { createYielder, hashSourceFile } from './source-file.ts';
import { type FileEntry, listLayer, type PendingFile, settlePending, sourcePath } from './source-tree.ts';
import type { BuildSpec } from './spec.ts';

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
  /**
   * Leave files whose digests are not remembered for packing to hash (`pending`), so each is read once: for
   * builds that will pack every layer anyway (--no-cache, or no layer cached to find).
   */
  hashWhilePacking?: boolean;
  signal?: AbortSignal | undefined;
}

export interface CollectedSources {
  /** Each layer's entries (see source-tree.ts); files still pending have no digests yet. */
  layers: FileEntry[][];
  /** Per layer, the files left for packing to hash (none unless `hashWhilePacking`); see PendingFiles. */
  pending: PendingFiles[];
  /** Files with more than one link, as host path and stamp (see build-memo.ts). */
  linked: Array<[path: string, stamp: string]>;
  /**
   * Once no file is pending: saves the remembered digests and scans what was not scanned yet (SECRET_FOUND
   * when a packaged file holds a likely secret). Without `hashWhilePacking`, it has run before collectSources
   * returns.
   */
  finish(): Promise<void>;
}

/** What a layer's pack takes to hash its pending files (see PackOptions). */
export interface PendingFiles {
  files: Map<FileEntry, PendingFile>;
  /** Takes in a file the pack hashed: its digests are remembered and its content scanned; it is pending no more. */
  onHashed: NonNullable<PackOptions['onHashed']>;
}

/** Lists, hashes and scans every layer's files; see CollectedSources. */
export async function collectSources(options: CollectSourcesOptions): Promise<CollectedSources> {
  const { spec, root, layerRoot, cacheDir, useCache, clock, used, signal } = options;
  const scannerName = await scannerVersion();
  const digestCaches = new Map<string, Promise<FileDigestCache>>();
  const digestsFor = (from: string) => {
    let cache = digestCaches.get(from);
    if (cache === undefined) {
      cache = realpath(from)
        .catch(() => from)
        .then((real) => openDigestCache(join(cacheDir, 'files'), real, { clock, scanner: scannerName }));
      digestCaches.set(from, cache);
    }
    return cache;
  };

  // Every layer listed first: files the digest cache vouches for (digests, and clean to this scanner) are
  // neither read nor looked up again; what is left decides whether the scan memo is worth loading.
  const layers: FileEntry[][] = [];
  // Each layer's digest cache, where what it hashes and finds clean is remembered.
  const remembering: Array<FileDigestCache | undefined> = [];
  const listings: PendingFile[][] = [];
  const linked: CollectedSources['linked'] = [];
  // Files to scan: not yet hashed (no digest), or without a clean verdict for their remembered digest.
  let toScan = 0;
  const vouched = (entry: FileEntry, layer: number) =>
    entry.digest !== null && remembering[layer]?.isClean(entry.path.slice(entry.source!.skip)) === true;
  for (const layer of spec.layers) {
    const from = join(layerRoot(layer.from), layer.from);
    // A prepared copy is new each build, so its files have nothing to remember.
    const digests = useCache && layerRoot(layer.from) === root ? await digestsFor(from) : undefined;
    const index = remembering.push(digests) - 1;
    const listed = await listLayer(
      {
        from,
        to: layer.to,
        ...(layer.include ? { include: layer.include } : {}),
        ...(layer.exclude ? { exclude: layer.exclude } : {}),
        ...(layer.modes
          ? { modes: Object.fromEntries(Object.entries(layer.modes).map(([g, m]) => [g, toMode(m)])) }
          : {}),
      },
      { ...(signal ? { signal } : {}), ...(digests ? { digests } : {}) },
    );
    layers.push(listed.entries);
    listings.push(listed.pending);
    for (const file of listed.linked) linked.push([file.path, stampOf(file.stamp)]);
    for (const entry of listed.entries) if (entry.type === 'file' && !vouched(entry, index)) toScan++;
  }

  // Both are let go by finish(): the closures returned would otherwise keep the memo's keys alive.
  let memo = useCache && toScan > 0 ? await openScanMemo(join(cacheDir, 'secrets'), root, { clock }) : undefined;
  if (memo !== undefined) used.add(memo.file);
  let scanner: SecretScanner<Scanned> | null = createSecretScanner<Scanned>({
    allow: spec.secrets?.allow ?? [],
    signal,
    clean: memo,
    onClean: (file) => remembering[file.layer]?.markClean(file.rel),
  });
  // Files read to hash them are scanned from the same bytes; the scanner reads only what is left.
  const onContent = (entry: FileEntry, layer: number, content: Buffer) =>
    scanner?.scanContent(new Scanned(entry, layer), content);

  const pending: PendingFiles[] = [];
  const pause = createYielder(signal);
  let largeText = 0; // bytes of files over the pack's buffer hashed and scanned since the last collection
  for (const [index, listed] of listings.entries()) {
    const digests = remembering[index];
    const files = new Map<FileEntry, PendingFile>();
    pending.push({
      files,
      onHashed(file, { stat, content }) {
        remembering[index]?.set(file.rel, stat, { digest: file.entry.digest!, sha1: file.entry.sha1! });
        if (content !== null) onContent(file.entry, index, content);
        files.delete(file.entry);
      },
    });
    for (const file of listed) {
      if (options.hashWhilePacking === true && packsWhole(file.entry.size)) {
        files.set(file.entry, file);
        continue;
      }
      await pause();
      const hashed = hashSourceFile(sourcePath(file.entry), file.stamp);
      digests?.set(file.rel, hashed.stat, hashed);
      settlePending(file, hashed);
      if (hashed.content !== null) onContent(file.entry, index, hashed.content);
      if (!packsWhole(hashed.size)) largeText += hashed.size;
      if (largeText >= LARGE_GARBAGE) {
        collectGarbage();
        largeText = 0;
      }
    }
  }

  let finished: Promise<void> | null = null;
  const finish = async () => {
    if (scanner === null) throw new Error('collectSources: finish() ran twice');
    // Digests are all known now. Files vouched for or found clean since are passed over, those scanned from
    // their content are skipped by the scanner, and the rest read.
    const findings = await scanner.finish(
      (function* () {
        for (const [index, entries] of layers.entries()) {
          for (const entry of entries)
            if (entry.type === 'file' && !vouched(entry, index)) yield new Scanned(entry, index);
        }
      })(),
    );
    listings.length = 0;
    for (const cache of digestCaches.values()) {
      const opened = await cache;
      used.add(opened.file);
      await opened.save();
    }
    digestCaches.clear();
    // The closures handed to build() would otherwise keep the digest caches' rows alive to its end.
    remembering.length = 0;
    await memo?.save();
    memo = undefined;
    scanner = null;
    if (findings.length > 0) {
      throw new BuildError(
        'SECRET_FOUND',
        `Cannot build ${spec.name}: ${findings.length} likely secret(s) in packaged files\n${formatFindings(findings)}`,
        { detail: { findings } },
      );
    }
  };
  const collected: CollectedSources = {
    layers,
    pending,
    linked,
    finish: () => {
      finished ??= finish();
      return finished;
    },
  };
  if (options.hashWhilePacking !== true) await collected.finish();
  return collected;
}

/**
 * A file as the scanner sees it, read off its entry (whose digest may come only with packing), with where its
 * verdict is remembered: its layer's digest cache, by `rel`. Made as the scanner is handed each file.
 */
class Scanned implements ScannedFile {
  readonly entry: FileEntry;
  readonly layer: number;
  constructor(entry: FileEntry, layer: number) {
    this.entry = entry;
    this.layer = layer;
  }
  get path(): string {
    return this.entry.path;
  }
  get size(): number {
    return this.entry.size;
  }
  get digest(): FileEntry['digest'] {
    return this.entry.digest;
  }
  get source(): string {
    return sourcePath(this.entry);
  }
  get rel(): string {
    return this.entry.path.slice(this.entry.source!.skip);
  }
}

/** Octal permission bits from a mode given in fixity.yaml as number or string. */
function toMode(value: number | string): number {
  return typeof value === 'number' ? value : Number.parseInt(value, 8);
}
