export { API_STATUS } from './api-error.ts';
export type { AppDeps } from './app.ts';
export { createApp } from './app.ts';
export { sigstoreTrustedRoot } from './ledger-routes.ts';
