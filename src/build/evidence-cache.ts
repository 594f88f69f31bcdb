/**
 * Evidence blobs (the SBOM's DSSE envelope) kept by a key over everything that decides their bytes, so a
 * rebuild of unchanged inputs reuses the file instead of regenerating a document that lists every packaged
 * file (~62 MB for 90k files). The key covers the caller's inputs, a format version and the source of the
 * modules that write the evidence, so a change to any of them starts afresh. Each entry is a directory
 * (`blob`, `blob.json`) published and removed whole (cache-entry.ts); one whose blob is missing or has
 * another size is a miss. Its mtime records when a build last used it.
 */
import type { FileHandle } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { type Clock, canonicalJSON, type Digest, digestOf } from '../core/index.ts';
import { createBlobEntries } from './cache-entry.ts';

/** A cached evidence blob: its digest and size, the file holding it, and that file open. */
export interface EvidenceBlob {
  digest: Digest;
  size: number;
  path: string;
  /** Stays readable even if a concurrent prune removes the entry; the caller closes it. */
  file: FileHandle;
}

type BlobMeta = Pick<EvidenceBlob, 'digest' | 'size'>;

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
export function createEvidenceCache(dir: string, options: { clock: Clock }) {
  const blobs = createBlobEntries<BlobMeta>(dir, 'blob', options.clock);
  return {
    /** The key of evidence made from `inputs` (any JSON value) by this code. */
    async key(inputs: unknown): Promise<string> {
      writersDigest ??= Promise.all(WRITERS.map((url) => readFile(url, 'utf8'))).then((code) =>
        digestOf(JSON.stringify(code)),
      );
      return digestOf(canonicalJSON([VERSION, await writersDigest, inputs])).slice('sha256:'.length);
    },
    entry: blobs.entry,
    /** The blob under `key`, or null when there is none whole (missing, half-removed, or another size). */
    async get(key: string): Promise<EvidenceBlob | null> {
      const hit = await blobs.get(key);
      return hit && { digest: hit.meta.digest, size: hit.meta.size, path: hit.path, file: hit.file };
    },
    /** Runs `make(path)` to write the blob into a fresh directory, then publishes it atomically. */
    async put(key: string, make: (path: string) => Promise<BlobMeta>): Promise<EvidenceBlob> {
      const made = await blobs.put(key, async (path) => {
        const { digest, size } = await make(path);
        return { digest, size };
      });
      return { ...made.meta, path: made.path, file: made.file };
    },
  };
}

export type EvidenceCache = ReturnType<typeof createEvidenceCache>;
