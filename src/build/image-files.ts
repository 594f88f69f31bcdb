/**
 * What the image holds, from the collected layers: the regular files as unpacking leaves them (for the SBOM)
 * and the digest of the whole source tree (for provenance).
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../core/index.ts';
import type { SBOMFile } from './sbom.ts';
import type { FileEntry } from './source-tree.ts';

/**
 * The digest of the canonical JSON of one row per entry, `[path, type, mode, digest, linkname]`. For arrays of
 * strings, finite numbers and nulls that is exactly what JSON.stringify writes, at a fraction of the cost for
 * 100k files; it is hashed in 64 KiB pieces rather than made as one string.
 */
export function treeDigest(layers: FileEntry[][]): Digest {
  const hash = createHash('sha256');
  let text = '[';
  let first = true;
  for (const entries of layers) {
    for (const e of entries) {
      text += `${first ? '' : ','}${JSON.stringify([e.path, e.type, e.mode, e.digest, e.linkname])}`;
      first = false;
      if (text.length >= 1 << 16) {
        hash.update(text);
        text = '';
      }
    }
  }
  hash.update(`${text}]`);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * The regular files of the image (hardlinks too, each a path to the same content), each path as the last
 * layer holding it leaves it: a later layer's entry hides an earlier one's, as on unpacking. The entries
 * themselves, not copies (90k objects): those of files and hardlinks have their digests set.
 */
export function imageFiles(layers: FileEntry[][]): SBOMFile[] {
  const byPath = new Map<string, FileEntry>();
  for (const entries of layers) for (const entry of entries) byPath.set(entry.path, entry);
  return [...byPath.values()].filter((e) => e.type === 'file' || e.type === 'hardlink') as SBOMFile[];
}
