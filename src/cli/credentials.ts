/**
 * Tokens saved by `fixity login`, one per server, in CONFIG/hosts.json, as gh keeps hosts.yml and docker its
 * config.json: a command sends the token saved for the server it talks to. The file is written whole to a
 * temporary name and renamed, mode 0600 in a 0700 directory; the token is never printed.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configDir } from './ledger-pin.ts';
import { CLIError } from './output.ts';

export interface SavedHost {
  token: string;
  /** Who the token belonged to when it was saved (shown by login, never trusted for anything). */
  user: string;
  savedAt: string;
  /** A short name to pick this server by (`fixity context use NAME`, `--context NAME`), when given one. */
  name?: string;
}

export interface SavedHosts {
  /** The server commands use when nothing else names one (the last logged in to). */
  current: string | null;
  hosts: Record<string, SavedHost>;
}

export const hostsFile = (): string => join(configDir(), 'hosts.json');

/** A server URL as it is saved and looked up: scheme, host and path, without a trailing slash. */
export function normalizeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CLIError('USAGE', `Cannot use server "${url}": it is not a URL`, 'give it as http://HOST:PORT');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CLIError(
      'USAGE',
      `Cannot use server "${url}": only http and https are spoken`,
      'give it as https://HOST',
    );
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** The saved hosts; none when the file is missing or unreadable (a command then asks for a token as before). */
export function readHosts(): SavedHosts {
  try {
    const parsed = JSON.parse(readFileSync(hostsFile(), 'utf8')) as Partial<SavedHosts>;
    const hosts = typeof parsed.hosts === 'object' && parsed.hosts !== null ? parsed.hosts : {};
    return { current: typeof parsed.current === 'string' ? parsed.current : null, hosts };
  } catch {
    return { current: null, hosts: {} };
  }
}

async function writeHosts(saved: SavedHosts): Promise<void> {
  const file = hostsFile();
  await mkdir(configDir(), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** Saves `token` for `server` and makes it the current server. */
const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Checks a context name: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export function checkContextName(name: string): string {
  if (CONTEXT_NAME.test(name)) return name;
  throw new CLIError(
    'USAGE',
    `Cannot name a context "${name}": use letters, digits, ".", "_" and "-", starting with a letter or digit`,
    '--name prod',
  );
}

/**
 * Saves `token` for `server` and makes it the current server; `name` (which moves off any other server that
 * had it) picks it later by name. A server saved again keeps its name unless given another.
 */
export async function saveHost(
  server: string,
  token: string,
  user: string,
  options: { name?: string; now?: Date } = {},
): Promise<void> {
  const saved = readHosts();
  const name = options.name ?? saved.hosts[server]?.name;
  if (options.name !== undefined)
    for (const host of Object.values(saved.hosts)) if (host.name === options.name) delete host.name;
  saved.hosts[server] = {
    token,
    user,
    savedAt: (options.now ?? new Date()).toISOString(),
    ...(name === undefined ? {} : { name }),
  };
  saved.current = server;
  await writeHosts(saved);
}

/** The server saved under context `name`, or a CLIError listing the names there are. */
export function serverOfContext(saved: SavedHosts, name: string): string {
  const found = Object.entries(saved.hosts).find(([, host]) => host.name === name)?.[0];
  if (found !== undefined) return found;
  const names = Object.values(saved.hosts).flatMap((h) => (h.name === undefined ? [] : [h.name]));
  throw new CLIError(
    'USAGE',
    `No context "${name}"${names.length === 0 ? ': none is named yet' : `: the contexts are ${names.join(', ')}`}`,
    'fixity login URL --name NAME names one; fixity context list shows them',
  );
}

/** Makes `server` (saved already) the one commands use when nothing else names one. */
export async function useHost(server: string): Promise<void> {
  const saved = readHosts();
  saved.current = server;
  await writeHosts(saved);
}

/** Forgets the token of `server`; false when none was saved. The file goes when nothing is left in it. */
export async function forgetHost(server: string): Promise<boolean> {
  const saved = readHosts();
  if (saved.hosts[server] === undefined) return false;
  delete saved.hosts[server];
  if (saved.current === server) saved.current = Object.keys(saved.hosts)[0] ?? null;
  if (Object.keys(saved.hosts).length === 0) await rm(hostsFile(), { force: true });
  else await writeHosts(saved);
  return true;
}
