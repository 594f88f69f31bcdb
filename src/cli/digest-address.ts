/**
 * A digest as an address (CLI style rule 2): where a command takes an image reference, it also takes a
 * digest, an unambiguous prefix of one of at least 4 hex digits, as git takes a commit prefix, or its alias
 * (`amber-otter`, core/alias.ts: a name for its first 4 hex digits). The server says which images in which
 * repositories it may mean, among those the caller may pull; one is the answer, none or several is an error
 * that lists them.
 */
import { aliasOf, type Digest, prefixOfAlias } from '../core/index.ts';
import { type ImageReference, parseReference } from '../oci/index.ts';
import type { APIClient, ManifestMatchView } from './api-client.ts';
import { CLIError } from './output.ts';

const ADDRESS = /^(?:sha256:)?[0-9a-f]{4,64}$/;

/** Whether `text` is a digest, a digest prefix or an alias rather than an image reference. */
export function isDigestAddress(text: string): boolean {
  return ADDRESS.test(text) || prefixOfAlias(text) !== null;
}

/** `sha256:9c21… (amber-otter)`: how text output names an image, by its digest and alias. */
export function withAlias(digest: string): string {
  const alias = aliasOf(digest);
  return alias === null ? digest : `${digest} (${alias})`;
}

export interface DigestLookup {
  /** The image `text` (a digest or prefix) names, as a reference by digest to the server's registry. */
  find(text: string): Promise<ImageReference & { digest: Digest }>;
}

/** Looks digests up on `client`'s server, whose registry is `server`'s host. */
export function digestLookup(client: APIClient, server: string): DigestLookup {
  const host = new URL(server).host;
  return {
    async find(text) {
      const matches = await client.findManifests(prefixOfAlias(text) ?? text);
      const match = one(text, matches);
      const ref = parseReference(`${host}/${match.repository}@${match.digest}`);
      return { ...ref, digest: match.digest as Digest };
    },
  };
}

function one(text: string, matches: ManifestMatchView[]): ManifestMatchView {
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new CLIError(
      'FAILED',
      `Cannot find an image ${prefixOfAlias(text) === null ? `whose digest starts with "${text}"` : `with the alias ${text}`} (among the repositories you may pull)`,
      'check the digest, or name the image as HOST/REPOSITORY:TAG',
    );
  }
  const digests = new Set(matches.map((m) => m.digest));
  const lines = matches.map(
    (m) =>
      `  ${m.digest.slice(0, 19)}…  ${aliasOf(m.digest)}  ${m.repository}${m.tags.length > 0 ? `:${m.tags.join(',')}` : ''}  (${m.createdAt})`,
  );
  const fix =
    digests.size > 1
      ? `use more characters, e.g. ${uniquePrefix([...digests][0]!, [...digests])}`
      : 'name the repository: HOST/REPOSITORY@DIGEST';
  const what = digests.size > 1 ? `${digests.size} digests` : `one digest in ${matches.length} repositories`;
  throw new CLIError('USAGE', `"${text}" matches ${what}:\n${lines.join('\n')}`, fix);
}

// The shortest prefix of `digest` (hex digits) that none of the `others` starts with.
function uniquePrefix(digest: string, others: string[]): string {
  const hex = digest.slice('sha256:'.length);
  for (let n = 4; n < hex.length; n++) {
    const prefix = `sha256:${hex.slice(0, n)}`;
    if (others.every((o) => o === digest || !o.startsWith(prefix))) return hex.slice(0, n);
  }
  return hex;
}
