export type { Dialect, Executor, OpenDatabaseOptions, StoreDatabase } from './database.ts';
export { openDatabase, redactUrl } from './database.ts';
export type { EventInput, EventRecord } from './events.ts';
export { appendEvent, listEvents } from './events.ts';
export type { AppendOptions, BlobStore, UploadStore } from './fs-blob-store.ts';
export { createFsBlobStore } from './fs-blob-store.ts';
export type {
  ManifestRecord,
  PutManifestInput,
  ReferrerRecord,
  RegistryMetadata,
  TagChange,
  TagProtection,
} from './registry-metadata.ts';
export { createRegistryMetadata } from './registry-metadata.ts';
export type { Database } from './schema.ts';
export type { StoreErrorCode } from './store-error.ts';
export { StoreError } from './store-error.ts';
export type { TokenRecord, TokenRecords } from './token-records.ts';
export { createTokenRecords } from './token-records.ts';
