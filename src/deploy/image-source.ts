import type { Readable } from 'node:stream';
import type { Digest } from '../core/index.ts';
import type { ImageSource } from '../runtime/index.ts';
import type { BlobStore, StoreDatabase } from '../store/index.ts';

/** Images for the runtime from this server's own registry store: manifests by digest, blobs from disk. */
export function createStoreImageSource(database: StoreDatabase, blobs: BlobStore): ImageSource {
  return {
    async manifest(digest: Digest): Promise<Uint8Array> {
      const row = await database.db
        .selectFrom('manifests')
        .select('content')
        .where('digest', '=', digest)
        .limit(1)
        .executeTakeFirst();
      if (row === undefined) throw new Error(`Cannot unpack ${digest}: the registry has no such manifest`);
      return row.content instanceof Uint8Array ? row.content : Buffer.from(row.content as unknown as string);
    },
    async blob(digest: Digest): Promise<Readable> {
      if ((await blobs.stat(digest)) === null) throw new Error(`Cannot unpack: the registry has no blob ${digest}`);
      return blobs.read(digest);
    },
  };
}
