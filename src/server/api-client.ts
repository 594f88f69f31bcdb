import { BaseError } from '../core/index.ts';

export type ClientErrorCode =
  | 'UNREACHABLE'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'INVALID_REQUEST'
  | 'SERVER_ERROR';
export class ClientError extends BaseError<ClientErrorCode> {}

export interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  repos: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
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

/** The typed client for /api/v1 that the CLI (and later the dashboard) use. */
export function createAPIClient(options: { server: string; token: string | null; fetch?: typeof fetch }) {
  const { server, token, fetch: fetchImpl = fetch } = options;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
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
    if (res.status === 204) return undefined as T;
    const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    if (!res.ok) {
      const code: ClientErrorCode =
        res.status === 401
          ? 'UNAUTHENTICATED'
          : res.status === 403
            ? 'FORBIDDEN'
            : res.status === 404
              ? 'NOT_FOUND'
              : res.status < 500
                ? 'INVALID_REQUEST'
                : 'SERVER_ERROR';
      throw new ClientError(code, json.error?.message ?? `Cannot ${method} ${path}: HTTP ${res.status}`);
    }
    return json as T;
  };
  return {
    status: () => call<StatusView>('GET', '/status'),
    listTokens: async () => (await call<{ items: TokenView[] }>('GET', '/tokens')).items,
    createToken: (input: { name: string; scopes: string[]; repos: string[]; expiresInSeconds?: number }) =>
      call<TokenView & { secret: string }>('POST', '/tokens', input),
    revokeToken: (id: string) => call<void>('DELETE', `/tokens/${encodeURIComponent(id)}`),
    collectGarbage: (input: { dryRun?: boolean; graceSeconds?: number }) =>
      call<GarbageCollectionView>('POST', '/gc', input),
  };
}

export type APIClient = ReturnType<typeof createAPIClient>;
