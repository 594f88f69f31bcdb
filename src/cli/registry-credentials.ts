import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../oci/index.ts';

/**
 * Credentials per registry host: the Fixity token for the Fixity server's own host, else what
 * `docker login` stored in ~/.docker/config.json (plain `auths` entries; credential helpers are not run).
 */
export function registryCredentials(fixity: {
  server: string;
  token: string | null;
}): (registry: string) => Credentials | null {
  const fixityHost = new URL(fixity.server).host;
  const dockerConfig = join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let auths: Record<string, { auth?: string }> = {};
  if (existsSync(dockerConfig)) {
    try {
      auths = (JSON.parse(readFileSync(dockerConfig, 'utf8')) as { auths?: typeof auths }).auths ?? {};
    } catch {}
  }
  return (registry) => {
    const sameHost =
      registry === fixityHost ||
      registry.replace(/^localhost:/, '127.0.0.1:') === fixityHost.replace(/^localhost:/, '127.0.0.1:');
    if (sameHost && fixity.token !== null) return { username: 'fixity', password: fixity.token };
    const entry =
      auths[registry] ??
      auths[`https://${registry}`] ??
      (registry === 'registry-1.docker.io' ? auths['https://index.docker.io/v1/'] : undefined);
    if (entry?.auth === undefined) return null;
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  };
}
