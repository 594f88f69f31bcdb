export type { Challenge } from './auth-challenge.ts';
export { parseChallenge } from './auth-challenge.ts';
export { writeImageArchive } from './image-archive.ts';
export type { LayoutBlob, LayoutImage } from './image-layout.ts';
export { writeImageLayout } from './image-layout.ts';
export type { Descriptor, ParsedManifest } from './manifest.ts';
export { parseManifest, toDescriptor } from './manifest.ts';
export type { ManifestMediaType } from './media-types.ts';
export {
  EMPTY_DESCRIPTOR,
  isIndexMediaType,
  isManifestMediaType,
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPES,
} from './media-types.ts';
export type { OCIErrorCode } from './oci-error.ts';
export { OCIError } from './oci-error.ts';
export type { ImageReference } from './reference.ts';
export { formatReference, parseReference } from './reference.ts';
export type { BlobSource, Credentials, RegistryClient, RegistryClientOptions } from './registry-client.ts';
export { createRegistryClient, referrersTag } from './registry-client.ts';
