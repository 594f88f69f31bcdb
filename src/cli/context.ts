import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../defaults.ts';
import { type APIClient, createAPIClient } from './api-client.ts';
import type { GlobalOptions } from './output.ts';

/** Finds the server and token: flags, then FIXITY_SERVER/FIXITY_TOKEN, then the data dir. */
export function resolveClient(options: GlobalOptions): { client: APIClient; server: string; token: string | null } {
  const dataDir = resolve(options.data ?? process.env.FIXITY_DATA ?? DEFAULT_DATA_DIR);
  const serverFile = join(dataDir, 'server.json');
  const fromFile = existsSync(serverFile)
    ? (JSON.parse(readFileSync(serverFile, 'utf8')) as { url?: string }).url
    : undefined;
  const server = options.server ?? process.env.FIXITY_SERVER ?? fromFile ?? `http://127.0.0.1:${DEFAULT_PORT}`;
  const tokenFile = join(dataDir, 'admin.token');
  const token =
    options.token ??
    process.env.FIXITY_TOKEN ??
    (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : null);
  return { client: createAPIClient({ server, token }), server, token };
}
