// The registry's metadata port. The work is split by concern: blob records (registry-blobs.ts), manifests
// and tags (registry-manifests.ts), read-only listings (registry-listings.ts); this module joins them over
// one shared context (registry-context.ts) and keeps the import path the rest of the code uses.
import type { Clock } from '../core/index.ts';
import type { StoreDatabase } from './database.ts';
import { createBlobMetadata } from './registry-blobs.ts';
import { createRegistryContext, type TagProtection } from './registry-context.ts';
import { createRegistryListings } from './registry-listings.ts';
import { createManifestMetadata } from './registry-manifests.ts';

export type { TagProtection } from './registry-context.ts';
export type { ReferrerRecord } from './registry-listings.ts';
export type { ManifestRecord, PutManifestInput, TagChange } from './registry-manifests.ts';

/** Registry metadata: repositories, blob links, manifests, tags, referrers; every change is also an event. */
export function createRegistryMetadata(store: StoreDatabase, options: { clock: Clock; isImmutable: TagProtection }) {
  const ctx = createRegistryContext(store, options);
  return { ...createBlobMetadata(ctx), ...createManifestMetadata(ctx), ...createRegistryListings(ctx) };
}

export type RegistryMetadata = ReturnType<typeof createRegistryMetadata>;
