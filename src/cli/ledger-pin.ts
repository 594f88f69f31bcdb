import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { APIClient } from './api-client.ts';
import { CLIError } from './output.ts';
import { ledgerRoom } from './rooms.ts';

/**
 * What this client has seen of a ledger, kept beside its config: the key (pinned on first use or from
 * `--key`) and the newest checkpoint it verified, so the next verify proves the log only grew.
 */
export interface LedgerPin {
  server: string;
  logId: string;
  publicKey: string;
  checkpoint: { size: number; rootHash: string; note: string } | null;
}

export function configDir(): string {
  return process.env.FIXITY_CONFIG_DIR ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'fixity');
}

const pinFile = (server: string) =>
  join(configDir(), 'ledgers', `${createHash('sha256').update(server).digest('hex').slice(0, 16)}.json`);

export async function readPin(server: string): Promise<LedgerPin | null> {
  try {
    return JSON.parse(await readFile(pinFile(server), 'utf8')) as LedgerPin;
  } catch {
    return null;
  }
}

export async function writePin(pin: LedgerPin): Promise<void> {
  const file = pinFile(pin.server);
  await mkdir(join(configDir(), 'ledgers'), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, `${JSON.stringify(pin, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * Whether the tree head `latest` extends the one this client saw (`seen`, roots as base64): equal at the same
 * size, else proven by the server's consistency proof.
 */
export async function extendsCheckpoint(
  client: APIClient,
  seen: { size: number; rootHash: string },
  latest: { size: number; rootHash: string },
): Promise<boolean> {
  if (seen.size > latest.size) return false;
  if (seen.size === latest.size) return seen.rootHash === latest.rootHash;
  if (seen.size === 0) return true;
  const b64 = (s: string) => Buffer.from(s, 'base64');
  const proof = await client.consistencyProof(seen.size, latest.size);
  const { verifyConsistency } = await ledgerRoom();
  return verifyConsistency(seen.size, latest.size, proof.map(b64), b64(seen.rootHash), b64(latest.rootHash));
}

/** Hex SHA-256 of a PEM public key's SPKI DER: the log id. */
export function logIdOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

/**
 * The ledger key to trust: `--key FILE` when given (and it must match the server's), else the pinned one
 * (which must still match), else the server's, pinned now (trust on first use, said out loud).
 */
export async function trustedLedgerKey(
  server: string,
  offered: { publicKey: string; logId: string },
  keyFile: string | undefined,
  warn: (text: string) => void,
): Promise<{ publicKey: string; logId: string; pin: LedgerPin | null }> {
  const pin = await readPin(server);
  if (keyFile !== undefined) {
    if (!existsSync(keyFile)) throw new CLIError('USAGE', `Cannot read the ledger key ${keyFile}: no such file`);
    const publicKey = readFileSync(keyFile, 'utf8');
    const logId = logIdOf(publicKey);
    if (logId !== offered.logId) {
      throw new CLIError(
        'FAILED',
        `Cannot trust the server's ledger: its key ${offered.logId.slice(0, 16)}… is not the one in ${keyFile} (${logId.slice(0, 16)}…)`,
        'check that --server points at the right Fixity, or that the key file is current',
      );
    }
    return { publicKey, logId, pin };
  }
  if (pin !== null) {
    if (pin.logId !== offered.logId) {
      throw new CLIError(
        'FAILED',
        `Cannot trust the server's ledger: its key changed from ${pin.logId.slice(0, 16)}… to ${offered.logId.slice(0, 16)}…`,
        `if the change is legitimate, pass the new key with --key LEDGER.pub (it is then pinned in ${configDir()})`,
      );
    }
    return { publicKey: pin.publicKey, logId: pin.logId, pin };
  }
  warn(`pinned ledger key ${offered.logId.slice(0, 16)}… of ${server} on first use (in ${configDir()})`);
  return { publicKey: offered.publicKey, logId: offered.logId, pin: null };
}
