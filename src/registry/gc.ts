import type { Clock, Digest } from '../core/index.ts';
import type { BlobStore, RegistryMetadata } from '../store/index.ts';

export interface GarbageCollectionOptions {
  metadata: RegistryMetadata;
  blobs: BlobStore;
  clock: Clock;
  /** Blobs linked, and files written, more recently than this are kept (ms). */
  graceMs: number;
  /** Upload sessions untouched for this long are abandoned (ms). */
  uploadExpiryMs: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface GarbageCollectionStep {
  step: 'unreferenced-blobs' | 'orphan-files' | 'stale-uploads';
  status: 'applied' | 'skipped' | 'failed';
  removed: number;
  bytes: number;
  digests?: string[];
  error?: string;
}

/**
 * Mark and sweep. Marked (kept): every blob a manifest references, anything linked or written within the
 * grace period, and upload sessions still in progress. Swept: unreferenced blob records and their files,
 * files no record names, and abandoned uploads. Each step reports its own result.
 */
export async function collectGarbage(options: GarbageCollectionOptions): Promise<GarbageCollectionStep[]> {
  const { metadata, blobs, clock, graceMs, uploadExpiryMs, dryRun = false, signal } = options;
  const cutoff = new Date(clock.now().getTime() - graceMs);
  const steps: GarbageCollectionStep[] = [];
  const run = async (step: GarbageCollectionStep['step'], fn: (s: GarbageCollectionStep) => Promise<void>) => {
    const s: GarbageCollectionStep = {
      step,
      status: dryRun ? 'skipped' : 'applied',
      removed: 0,
      bytes: 0,
      digests: [],
    };
    try {
      signal?.throwIfAborted();
      await fn(s);
    } catch (err) {
      s.status = 'failed';
      s.error = String(err);
    }
    steps.push(s);
  };
  const remove = async (s: GarbageCollectionStep, digest: Digest, size: number, decide: () => Promise<boolean>) => {
    signal?.throwIfAborted();
    if (dryRun ? await decide() : await blobs.remove(digest, decide)) {
      s.removed++;
      s.bytes += size;
      s.digests!.push(digest);
    }
  };

  await run('unreferenced-blobs', async (s) => {
    for (const digest of await metadata.unreferencedBlobs(cutoff)) {
      const size = (await metadata.storedBlobSize(digest)) ?? 0;
      await remove(s, digest, size, async () => (dryRun ? true : metadata.forgetBlob(digest, cutoff)));
    }
  });
  await run('orphan-files', async (s) => {
    for await (const file of blobs.list()) {
      if (file.mtime >= cutoff) continue;
      await remove(s, file.digest, file.size, async () => !(await metadata.isKnownBlob(file.digest)));
    }
  });
  await run('stale-uploads', async (s) => {
    const expiry = clock.now().getTime() - uploadExpiryMs;
    for await (const upload of blobs.uploads.list()) {
      if (upload.mtime.getTime() >= expiry) continue;
      if (dryRun || (await blobs.uploads.cancel(upload.id))) {
        s.removed++;
        s.bytes += upload.size;
      }
    }
  });
  return steps;
}
