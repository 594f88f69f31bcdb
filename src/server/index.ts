export type {
  APIClient,
  ClientErrorCode,
  GarbageCollectionView,
  InclusionProofView,
  KeyView,
  LedgerEntryView,
  LedgerView,
  SignatureRecordView,
  StatusView,
  TokenView,
} from './api-client.ts';
export { ClientError, createAPIClient } from './api-client.ts';
export { API_STATUS } from './api-error.ts';
export type { AppDeps } from './app.ts';
export { createApp } from './app.ts';
export { sigstoreTrustedRoot } from './ledger-routes.ts';
