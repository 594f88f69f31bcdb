import { randomBytes } from 'node:crypto';

/**
 * A random identifier: base64url, safe in URLs and file names, and never starting with `-`, so it can be
 * given to a command line (`fixity token revoke ID`) without being read as an option.
 */
export function newId(bytes = 16): string {
  for (;;) {
    const id = randomBytes(bytes).toString('base64url');
    if (id[0] !== '-') return id;
  }
}
