/**
 * The floor of a cold build on this machine: a tar read from stdin, hashed (the layer's diff_id) and
 * compressed by Fixity's own block compressor (gzip level 6 as 1 MiB members on all cores, src/build/
 * block-compressor.ts), the compressed bytes hashed (the blob digest) and dropped. This is the part of a cold
 * build no faster code can leave out, with none of the rest: no walk, no per-file hashes, no secret scan, no
 * SBOM, no cache, no image. Prints the compressed size in bytes.
 *
 *   tar -c DIR | node bench/build-lib/compress-floor.ts
 */
import { createHash } from 'node:crypto';
import { createBlockCompressor } from '../../src/build/block-compressor.ts';

const tarHash = createHash('sha256');
const blobHash = createHash('sha256');
let size = 0;
const compressor = createBlockCompressor('gzip', {
  output: async (bytes) => {
    blobHash.update(bytes);
    size += bytes.byteLength;
  },
});
for await (const chunk of process.stdin) {
  tarHash.update(chunk as Buffer);
  await compressor.write(chunk as Buffer);
}
await compressor.end();
tarHash.digest();
blobHash.digest();
process.stdout.write(`${size}\n`);
