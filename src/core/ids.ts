import { randomBytes } from 'node:crypto';

/** A random identifier: 128 bits, base64url, safe in URLs and file names. */
export function newId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}
