import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../defaults.ts';
import { type APIClient, createAPIClient } from './api-client.ts';
import { normalizeServer, readHosts, type SavedHosts, serverOfContext } from './credentials.ts';
import type { GlobalOptions } from './output.ts';
import { findProjectFile } from './project-file.ts';

/** What the server and token are chosen from, in order; see {@link chooseServer} and {@link chooseToken}. */
export interface CredentialSources {
  flags: { server?: string | undefined; token?: string | undefined; context?: string | undefined };
  env: {
    FIXITY_SERVER?: string | undefined;
    FIXITY_TOKEN?: string | undefined;
    FIXITY_CONTEXT?: string | undefined;
  };
  /** The data dir's server.json URL and admin.token, when they exist. */
  dataDir: { server: string | null; adminToken: string | null };
  /** The nearest .fixity.yaml (project-file.ts), when there is one. */
  project?: { path: string; server?: string | undefined; context?: string | undefined } | null | undefined;
  saved: SavedHosts;
}

/** Where a setting came from, for `fixity config view --show-origin`. */
export type Origin = 'flag' | 'env' | 'data dir' | 'project' | 'login' | 'default';

/** A setting's value and where it came from. */
export interface Sourced<T> {
  value: T;
  origin: Origin;
}

function firstOf<T>(candidates: Array<[T | null | undefined, Origin]>): Sourced<T> | null {
  for (const [value, origin] of candidates) if (value !== null && value !== undefined) return { value, origin };
  return null;
}

/**
 * --server, --context, FIXITY_SERVER, FIXITY_CONTEXT, the data dir's own server, the project file's server or
 * context, the server last logged in to (or made current by `fixity context use`), then the local default. An
 * unknown context is a usage error.
 */
export function serverWithOrigin(s: CredentialSources): Sourced<string> {
  // A context is looked up only when it is the one that counts: a stale FIXITY_CONTEXT does not break --server.
  const named = s.flags.server === undefined ? s.flags.context : undefined;
  const namedByEnv =
    s.flags.server === undefined && s.flags.context === undefined && s.env.FIXITY_SERVER === undefined
      ? s.env.FIXITY_CONTEXT
      : undefined;
  // The project file's context, likewise, only when nothing before it names a server.
  const byProject =
    namedByEnv === undefined &&
    s.env.FIXITY_CONTEXT === undefined &&
    s.flags.server === undefined &&
    s.flags.context === undefined &&
    s.env.FIXITY_SERVER === undefined &&
    s.dataDir.server === null &&
    s.project?.server === undefined
      ? s.project?.context
      : undefined;
  const found = firstOf<string>([
    [s.flags.server, 'flag'],
    [named === undefined ? undefined : serverOfContext(s.saved, named), 'flag'],
    [s.env.FIXITY_SERVER, 'env'],
    [namedByEnv === undefined ? undefined : serverOfContext(s.saved, namedByEnv), 'env'],
    [s.dataDir.server, 'data dir'],
    [s.project?.server, 'project'],
    [byProject === undefined ? undefined : serverOfContext(s.saved, byProject), 'project'],
    [s.saved.current, 'login'],
  ]) ?? { value: `http://127.0.0.1:${DEFAULT_PORT}`, origin: 'default' };
  return { value: normalizeServer(found.value), origin: found.origin };
}

export const chooseServer = (s: CredentialSources): string => serverWithOrigin(s).value;

/**
 * --token, FIXITY_TOKEN, the token `fixity login` saved for this server, then the data dir's admin token, but
 * only for the data dir's own server or one on this machine: a local admin token is never sent elsewhere.
 */
export function tokenWithOrigin(s: CredentialSources, server: string): Sourced<string> | null {
  const own = s.dataDir.server !== null && normalizeServer(s.dataDir.server) === server;
  return firstOf<string>([
    [s.flags.token, 'flag'],
    [s.env.FIXITY_TOKEN, 'env'],
    [s.saved.hosts[server]?.token, 'login'],
    [own || isLoopback(server) ? s.dataDir.adminToken : null, 'data dir'],
  ]);
}

export const chooseToken = (s: CredentialSources, server: string): string | null =>
  tokenWithOrigin(s, server)?.value ?? null;

function isLoopback(server: string): boolean {
  const host = new URL(server).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The data dir: --data, FIXITY_DATA, else ./.fixity. */
export function dataDirOf(options: GlobalOptions): Sourced<string> {
  if (options.data !== undefined) return { value: resolve(options.data), origin: 'flag' };
  if (process.env.FIXITY_DATA !== undefined) return { value: resolve(process.env.FIXITY_DATA), origin: 'env' };
  return { value: resolve(DEFAULT_DATA_DIR), origin: 'default' };
}

/** What the server and token are chosen from for these options, read off the flags, env and files. */
export function credentialSources(options: GlobalOptions): CredentialSources {
  const dataDir = dataDirOf(options).value;
  const serverFile = join(dataDir, 'server.json');
  const tokenFile = join(dataDir, 'admin.token');
  return {
    flags: { server: options.server, token: options.token, context: options.context },
    env: {
      FIXITY_SERVER: process.env.FIXITY_SERVER,
      FIXITY_TOKEN: process.env.FIXITY_TOKEN,
      FIXITY_CONTEXT: process.env.FIXITY_CONTEXT || undefined,
    },
    dataDir: {
      server: existsSync(serverFile)
        ? ((JSON.parse(readFileSync(serverFile, 'utf8')) as { url?: string }).url ?? null)
        : null,
      adminToken: existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : null,
    },
    project: findProjectFile(),
    saved: readHosts(),
  };
}

/** Finds the server and token (see chooseServer and chooseToken) and a client for them. */
export function resolveClient(options: GlobalOptions): { client: APIClient; server: string; token: string | null } {
  const sources = credentialSources(options);
  const server = chooseServer(sources);
  const token = chooseToken(sources, server);
  return { client: createAPIClient({ server, token }), server, token };
}
