import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BlobStore, RegistryMetadata } from '../store/index.ts';

export type Action = 'pull' | 'push' | 'delete';

/** Who is asking, and what they may do; produced by the server's auth layer. */
export interface Principal {
  /** Recorded as the actor of every event this request causes. */
  readonly actor: string;
  can(repo: string, action: Action): boolean;
}

/**
 * Authenticates the request and checks that it may perform `actions` on `repo` (or merely that it is
 * authenticated, when `repo` is null). Throws RegistryError UNAUTHORIZED (with a challenge) or DENIED.
 */
export type Authorize = (
  request: FastifyRequest,
  repo: string | null,
  actions: readonly Action[],
) => Promise<Principal>;

export interface RegistryOptions {
  metadata: RegistryMetadata;
  blobs: BlobStore;
  authorize: Authorize;
  /** Largest manifest accepted, in bytes (413 above it). */
  maxManifestBytes: number;
}

export interface RequestContext {
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  readonly query: URLSearchParams;
  readonly method: string;
}
