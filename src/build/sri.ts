/** One hash of a Subresource Integrity string (`sha512-<base64>`), as the algorithm and lowercase hex. */
export interface IntegrityHash {
  algorithm: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  hex: string;
}

const HEX_LENGTH = { sha1: 40, sha256: 64, sha384: 96, sha512: 128 } as const;

/** The hashes in an SRI string (npm writes `sha512-…`, older locks `sha1-…`); unknown or malformed ones are left out. */
export function parseIntegrity(integrity: string): IntegrityHash[] {
  const hashes: IntegrityHash[] = [];
  for (const item of integrity.trim().split(/\s+/)) {
    const match = /^(sha1|sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})(?:\?.*)?$/.exec(item);
    if (match === null) continue;
    const algorithm = match[1] as IntegrityHash['algorithm'];
    const hex = Buffer.from(match[2]!, 'base64').toString('hex');
    if (hex.length === HEX_LENGTH[algorithm]) hashes.push({ algorithm, hex });
  }
  return hashes;
}

/** An SRI string for a hex digest, e.g. composer's sha1 `shasum`; null when the hex is not that long. */
export function toIntegrity(algorithm: IntegrityHash['algorithm'], hex: string): string | null {
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  return `${algorithm}-${Buffer.from(hex, 'hex').toString('base64')}`;
}
