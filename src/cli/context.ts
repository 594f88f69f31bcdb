import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../defaults.ts';
import { type APIClient, createAPIClient } from './api-client.ts';
import { normalizeServer, readHosts, type SavedHosts } from './credentials.ts';
import type { GlobalOptions } from './output.ts';

/** What the server and token are chosen from, in order; see {@link chooseServer} and {@link chooseToken}. */
export interface CredentialSources {
  flags: { server?: string | undefined; token?: string | undefined };
  env: { FIXITY_SERVER?: string | undefined; FIXITY_TOKEN?: string | undefined };
  /** The data dir's server.json URL and admin.token, when they exist. */
  dataDir: { server: string | null; adminToken: string | null };
  saved: SavedHosts;
}

/** --server, FIXITY_SERVER, the data dir's own server, the server last logged in to, then the local default. */
export function chooseServer(s: CredentialSources): string {
  return normalizeServer(
    s.flags.server ?? s.env.FIXITY_SERVER ?? s.dataDir.server ?? s.saved.current ?? `http://127.0.0.1:${DEFAULT_PORT}`,
  );
}

/**
 * --token, FIXITY_TOKEN, the token `fixity login` saved for this server, then the data dir's admin token, but
 * only for the data dir's own server or one on this machine: a local admin token is never sent elsewhere.
 */
export function chooseToken(s: CredentialSources, server: string): string | null {
  const own = s.dataDir.server !== null && normalizeServer(s.dataDir.server) === server;
  return (
    s.flags.token ??
    s.env.FIXITY_TOKEN ??
    s.saved.hosts[server]?.token ??
    (own || isLoopback(server) ? s.dataDir.adminToken : null)
  );
}

function isLoopback(server: string): boolean {
  const host = new URL(server).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Finds the server and token (see chooseServer and chooseToken) and a client for them. */
export function resolveClient(options: GlobalOptions): { client: APIClient; server: string; token: string | null } {
  const dataDir = resolve(options.data ?? process.env.FIXITY_DATA ?? DEFAULT_DATA_DIR);
  const serverFile = join(dataDir, 'server.json');
  const tokenFile = join(dataDir, 'admin.token');
  const sources: CredentialSources = {
    flags: { server: options.server, token: options.token },
    env: { FIXITY_SERVER: process.env.FIXITY_SERVER, FIXITY_TOKEN: process.env.FIXITY_TOKEN },
    dataDir: {
      server: existsSync(serverFile)
        ? ((JSON.parse(readFileSync(serverFile, 'utf8')) as { url?: string }).url ?? null)
        : null,
      adminToken: existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : null,
    },
    saved: readHosts(),
  };
  const server = chooseServer(sources);
  const token = chooseToken(sources, server);
  return { client: createAPIClient({ server, token }), server, token };
}
