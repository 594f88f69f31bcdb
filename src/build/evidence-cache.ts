/**
 * Evidence blobs (the SBOM's DSSE envelope) kept by a key over everything that decides their bytes, so a
 * rebuild of unchanged inputs reuses the file instead of regenerating a document that lists every packaged
 * file (~62 MB for 90k files). The key covers the caller's inputs, a format version and the source of the
 * modules that write the evidence, so a change to any of them starts afresh. Entries are published atomically
 * (a fresh directory renamed into place); one whose blob is missing or has another size is a miss.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJSON, type Digest, digestOf } from '../core/index.ts';

/** A cached evidence blob: its digest and size, and the file holding it. */
export interface EvidenceBlob {
  digest: Digest;
  size: number;
  path: string;
}

const VERSION = 1;
const WRITERS = [
  './sbom.ts',
  './sbom-envelope.ts',
  './in-toto-statement.ts',
  './lockfiles.ts',
  './npm-lockfile.ts',
  './composer-lockfile.ts',
  './requirements-txt.ts',
  './lock-entry.ts',
  './purl.ts',
  './sri.ts',
  './spdx-license.ts',
  './utc-seconds.ts',
  '../core/canonical-json.ts',
].map((p) => new URL(p, import.meta.url));

let writersDigest: Promise<string> | undefined;

/** Evidence blobs under `dir`, one directory per key. */
export function createEvidenceCache(dir: string) {
  return {
    /** The key of evidence made from `inputs` (any JSON value) by this code. */
    async key(inputs: unknown): Promise<string> {
      writersDigest ??= Promise.all(WRITERS.map((url) => readFile(url, 'utf8'))).then((code) =>
        digestOf(JSON.stringify(code)),
      );
      return digestOf(canonicalJSON([VERSION, await writersDigest, inputs])).slice('sha256:'.length);
    },
    async get(key: string): Promise<EvidenceBlob | null> {
      try {
        const meta = JSON.parse(await readFile(join(dir, key, 'blob.json'), 'utf8')) as Omit<EvidenceBlob, 'path'>;
        const path = join(dir, key, 'blob');
        if ((await stat(path)).size !== meta.size) return null;
        return { digest: meta.digest, size: meta.size, path };
      } catch {
        return null;
      }
    },
    /** Runs `make(path)` to write the blob into a fresh directory, then publishes it atomically. */
    async put(key: string, make: (path: string) => Promise<Omit<EvidenceBlob, 'path'>>): Promise<EvidenceBlob> {
      const tmp = join(dir, `${key}.${randomBytes(4).toString('hex')}.tmp`);
      await mkdir(tmp, { recursive: true });
      try {
        const { digest, size } = await make(join(tmp, 'blob'));
        await writeFile(join(tmp, 'blob.json'), JSON.stringify({ digest, size }));
        await rm(join(dir, key), { recursive: true, force: true });
        await rename(tmp, join(dir, key));
        return { digest, size, path: join(dir, key, 'blob') };
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    },
  };
}

export type EvidenceCache = ReturnType<typeof createEvidenceCache>;
