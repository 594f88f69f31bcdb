// Types only: the wire shapes the server's rooms define, erased at run time (no room is loaded by the CLI).
import type { PrincipalRef, PrincipalView, RoleBindingView, TokenView } from '../access/index.ts';
import { BaseError } from '../core/index.ts';
import type { SignatureSubmission } from '../trust/index.ts';

export type ClientErrorCode =
  | 'UNREACHABLE'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'INVALID_REQUEST'
  | 'CONFLICT'
  | 'REFUSED'
  | 'SERVER_ERROR';
export class ClientError extends BaseError<ClientErrorCode> {}

export interface ManifestMatchView {
  repository: string;
  digest: string;
  mediaType: string;
  createdAt: string;
  tags: string[];
}

export interface WhoamiView {
  principal: PrincipalRef;
  roles: Array<Pick<RoleBindingView, 'role' | 'stages' | 'repos'>>;
  token: { id: string; name: string; scopes: string[]; repos: string[]; expiresAt: string | null } | null;
  admin: boolean;
}

export interface RoleGrantInput {
  role: string;
  stages?: string[];
  repos?: string[];
}

export interface GarbageCollectionView {
  dryRun: boolean;
  graceSeconds: number;
  steps: Array<{ step: string; status: string; removed: number; bytes: number; digests?: string[]; error?: string }>;
}

export interface StatusView {
  version: string;
  database: string;
  startedAt: string;
  registry: { repositories: number; manifests: number; blobs: number; blobBytes: number; tags: number };
}

export interface LedgerView {
  origin: string;
  logId: string;
  publicKey: string;
  size: number;
  rootHash: string;
  checkpoint: string;
}

export interface InclusionProofView {
  logIndex: number;
  treeSize: number;
  rootHash: string;
  hashes: string[];
  checkpoint: string;
}

export interface LedgerEntryView {
  index: number;
  /** Base64 of the leaf bytes (canonical JSON). */
  body: string;
  entry: Record<string, unknown>;
  inclusionProof: InclusionProofView;
}

export interface KeyView {
  keyId: string;
  name: string;
  role: string;
  algorithm: string;
  publicKeyPem: string;
  validFrom: string;
  validUntil: string | null;
  revokedAt: string | null;
  revocationReason?: string | null;
}

export interface SignatureRecordView {
  keyId: string;
  digests: string[];
  /** A Sigstore bundle `tlogEntries` item (protobuf-JSON). */
  tlogEntry: Record<string, unknown>;
}

/** What DELETE /environments/:env removed; `remaining` lists services the reconciler has still to remove. */
export interface EnvironmentDeletionView {
  environment: string;
  stage: string;
  version: number;
  digest: string;
  deletedBy: string;
  deletedAt: string;
  force: boolean;
  abortedRollouts: string[];
  services: Array<{ service: string; release: string | null; router: string | null; instances: string[] }>;
  complete: boolean;
  remaining: string[];
}

/** The typed client for /api/v1 that the CLI (and later the dashboard) use. */
export function createAPIClient(options: { server: string; token: string | null; fetch?: typeof fetch }) {
  const { server, token, fetch: fetchImpl = fetch } = options;
  const send = async (method: string, path: string, body?: unknown): Promise<Response> => {
    let res: Response;
    try {
      res = await fetchImpl(new URL(`/api/v1${path}`, server), {
        method,
        headers: {
          ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ClientError('UNREACHABLE', `Cannot reach the Fixity server at ${server}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return res;
  };
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await send(method, path, body);
    if (res.status === 204) return undefined as T;
    const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    if (!res.ok)
      throw new ClientError(codeOf(res.status), json.error?.message ?? `Cannot ${method} ${path}: HTTP ${res.status}`);
    return json as T;
  };
  return {
    status: () => call<StatusView>('GET', '/status'),
    ...accessMethods(call),
    collectGarbage: (input: { dryRun?: boolean; graceSeconds?: number }) =>
      call<GarbageCollectionView>('POST', '/gc', input),
    ledger: () => call<LedgerView>('GET', '/ledger'),
    consistencyProof: async (from: number, to: number) =>
      (await call<{ hashes: string[] }>('GET', `/ledger/proof/consistency?from=${from}&to=${to}`)).hashes,
    ledgerEntry: (index: number) => call<LedgerEntryView>('GET', `/ledger/entries/${index}`),
    ledgerEntriesFor: (digest: string) =>
      call<{ checkpoint: string; items: LedgerEntryView[] }>('GET', `/ledger/digests/${encodeURIComponent(digest)}`),
    /** The whole ledger as one tar (tlog-tiles layout, every checkpoint, the key), streamed. */
    ledgerExport: async (): Promise<{ body: ReadableStream<Uint8Array>; length: number | null }> => {
      const res = await send('GET', '/ledger/export');
      if (!res.ok || res.body === null) await call('GET', '/ledger/export');
      const length = res.headers.get('content-length');
      return { body: res.body as ReadableStream<Uint8Array>, length: length === null ? null : Number(length) };
    },
    ledgerVerifyOnServer: () => call<Record<string, unknown>>('POST', '/ledger/verify'),
    recordSignatures: async (repository: string, entries: SignatureSubmission[]) =>
      (await call<{ items: SignatureRecordView[] }>('POST', '/signatures', { repository, entries })).items,
    listKeys: async (role?: string) =>
      (await call<{ items: KeyView[] }>('GET', `/keys${role === undefined ? '' : `?role=${encodeURIComponent(role)}`}`))
        .items,
    registerKey: (input: { name: string; role: string; publicKey: string; validFrom?: string; validUntil?: string }) =>
      call<KeyView>('POST', '/keys', input),
    revokeKey: (keyId: string, reason: string) =>
      call<KeyView>('POST', `/keys/${encodeURIComponent(keyId)}/revoke`, { reason }),
    ...releaseMethods(send, call),
    ...deployMethods(call),
    /** GET /audit/report as JSON (the CLI renders md/html itself after checking every row). */
    auditReport: <T>(query: URLSearchParams) => call<T>('GET', `/audit/report?${query}`),
  };
}

export type APIClient = ReturnType<typeof createAPIClient>;

function codeOf(status: number): ClientErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 422) return 'REFUSED';
  return status < 500 ? 'INVALID_REQUEST' : 'SERVER_ERROR';
}

type Send = (method: string, path: string, body?: unknown) => Promise<Response>;
type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** A promotion's answer: promoted (201), refused by its gates (422) or beaten by another (409). */
export interface PromotionOutcomeView {
  result: 'promoted' | 'incomplete' | 'refused' | 'conflict';
  [key: string]: unknown;
}

// Tokens, users and service accounts, and their roles (/api/v1, access routes).
function accessMethods(call: Call) {
  const enc = encodeURIComponent;
  return {
    /** Every token (admins; `principal` narrows it), or the caller's own. */
    listTokens: async (principal?: string) =>
      (
        await call<{ items: TokenView[] }>(
          'GET',
          `/tokens${principal === undefined ? '' : `?principal=${enc(principal)}`}`,
        )
      ).items,
    /** Creates a token for `principal` (default: an admin's new service account named `name`, else yourself). */
    createToken: (input: {
      name: string;
      scopes: string[];
      repos: string[];
      expiresInSeconds?: number;
      principal?: string;
    }) => call<TokenView & { secret: string }>('POST', '/tokens', input),
    revokeToken: (id: string) => call<void>('DELETE', `/tokens/${enc(id)}`),
    whoami: () => call<WhoamiView>('GET', '/users/me'),
    listUsers: async () => (await call<{ items: PrincipalView[] }>('GET', '/users')).items,
    user: async (name: string) => (await call<{ principal: PrincipalView }>('GET', `/users/${enc(name)}`)).principal,
    createUser: async (input: { name: string; kind?: 'user' | 'service'; roles?: RoleGrantInput[] }) =>
      (await call<{ principal: PrincipalView }>('POST', '/users', input)).principal,
    disableUser: async (name: string) =>
      (await call<{ principal: PrincipalView }>('POST', `/users/${enc(name)}/disable`)).principal,
    grantRole: (name: string, grant: RoleGrantInput) =>
      call<{ binding: RoleBindingView; created: boolean }>('POST', `/users/${enc(name)}/roles`, grant),
    /** Revokes every binding of `role`, or only those with exactly these scopes. */
    revokeRole: async (name: string, role: string, scopes: { stages?: string[]; repos?: string[] } = {}) => {
      const query = new URLSearchParams([
        ...(scopes.stages ?? []).map((s): [string, string] => ['stage', s]),
        ...(scopes.repos ?? []).map((r): [string, string] => ['repo', r]),
      ]).toString();
      const path = `/users/${enc(name)}/roles/${enc(role)}${query === '' ? '' : `?${query}`}`;
      return (await call<{ revoked: RoleBindingView[] }>('DELETE', path)).revoked;
    },
  };
}

// Promotion, approvals, vetoes and holds (/api/v1, release routes).
function releaseMethods(send: Send, call: Call) {
  const enc = encodeURIComponent;
  return {
    pipeline: () => call<Record<string, unknown>>('GET', '/pipeline'),
    applyPipeline: (yaml: string) =>
      call<{ version: number; digest: string; created?: boolean }>('PUT', '/pipeline', { yaml }),
    promote: async (input: {
      repository: string;
      digest: string;
      stage: string;
      reason?: string;
    }): Promise<PromotionOutcomeView> => {
      const res = await send('POST', '/promotions', input);
      if (res.status === 201 || res.status === 409 || res.status === 422)
        return (await res.json()) as PromotionOutcomeView;
      return call<PromotionOutcomeView>('POST', '/promotions', input);
    },
    /** What promote would do, changing nothing (a dry run). */
    planPromotion: (input: { repository: string; digest: string; stage: string }) =>
      call<Record<string, unknown> & { result: 'would-promote' | 'would-refuse' | 'already-in' }>(
        'POST',
        '/promotions',
        { ...input, dryRun: true },
      ),
    /** The images a digest prefix matches that this caller may pull, newest first (at most 20). */
    findManifests: async (prefix: string) =>
      (await call<{ items: ManifestMatchView[] }>('GET', `/manifests?prefix=${enc(prefix)}`)).items,
    releaseStatus: (repository: string, digest: string) =>
      call<Record<string, unknown>>('GET', `/status/${enc(digest)}?repository=${enc(repository)}`),
    approve: (input: { repository: string; digest: string; stage: string; comment?: string }) =>
      call<Record<string, unknown>>('POST', '/approvals', input),
    veto: (digest: string, reason: string) => call<Record<string, unknown>>('POST', '/vetoes', { digest, reason }),
    liftVeto: (digest: string) => call<Record<string, unknown>>('DELETE', `/vetoes/${enc(digest)}`),
    holds: async () => (await call<{ items: Array<Record<string, unknown>> }>('GET', '/holds')).items,
    hold: (stage: string, reason: string) => call<Record<string, unknown>>('PUT', `/holds/${enc(stage)}`, { reason }),
    unhold: (stage: string) => call<Record<string, unknown>>('DELETE', `/holds/${enc(stage)}`),
  };
}

// Environments, deploys, rollouts, rollback and drift (/api/v1, deploy routes).
function deployMethods(call: Call) {
  const enc = encodeURIComponent;
  const svc = (env: string, service: string) => `/environments/${enc(env)}/services/${enc(service)}`;
  return {
    applyEnvironment: (yaml: string) => call<Record<string, unknown>>('PUT', '/environments', { yaml }),
    environments: async () => (await call<{ items: Array<Record<string, unknown>> }>('GET', '/environments')).items,
    environment: (name: string) => call<Record<string, unknown>>('GET', `/environments/${enc(name)}`),
    /** Deletes an environment and everything running in it; `force` even while a rollout is in progress. */
    deleteEnvironment: (name: string, force = false) =>
      call<EnvironmentDeletionView>('DELETE', `/environments/${enc(name)}${force ? '?force=true' : ''}`),
    deploy: async (env: string, service?: string) =>
      (
        await call<{ items: Array<Record<string, unknown>> }>(
          'POST',
          `/environments/${enc(env)}/deployments`,
          service === undefined ? {} : { service },
        )
      ).items,
    /** What deploy would do for each service, changing nothing (a dry run). */
    planDeploy: async (env: string, service?: string) =>
      (
        await call<{ items: Array<Record<string, unknown>> }>('POST', `/environments/${enc(env)}/deployments`, {
          ...(service === undefined ? {} : { service }),
          dryRun: true,
        })
      ).items,
    rolloutStatus: (env: string, service?: string) =>
      call<Record<string, unknown>>(
        'GET',
        `/environments/${enc(env)}/status${service === undefined ? '' : `?service=${enc(service)}`}`,
      ),
    /** One rollout by the id a deploy or rollback answered with: its environment, service, state and steps. */
    rollout: (id: string) => call<Record<string, unknown>>('GET', `/rollouts/${enc(id)}`),
    rolloutCommand: (env: string, service: string, command: 'pause' | 'resume' | 'abort' | 'promote') =>
      call<Record<string, unknown>>('POST', `${svc(env, service)}/rollout`, { command }),
    rollback: (env: string, service: string, reason?: string) =>
      call<Record<string, unknown>>('POST', `${svc(env, service)}/rollback`, reason === undefined ? {} : { reason }),
    drift: (env: string) => call<Record<string, unknown>>('GET', `/environments/${enc(env)}/drift`),
  };
}
