import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { type Digest, digestOf } from '../core/index.ts';
import type { ImageSource } from './types.ts';

/** Test support: builds small OCI images in memory for the runtime tests. */
export interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device';
  content?: string;
  mode?: number;
  linkname?: string;
}

export interface FixtureLayer {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

export async function makeLayer(entries: FixtureEntry[], compression: 'gzip' | 'zstd' | 'tar' = 'gzip') {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
    };
    await new Promise<void>((resolve, reject) =>
      p.entry(header, type === 'file' ? (e.content ?? '') : '', (err) => (err ? reject(err) : resolve())),
    );
  }
  p.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  const bytes = compression === 'gzip' ? gzipSync(tar) : compression === 'zstd' ? zstdCompressSync(tar) : tar;
  const suffix = compression === 'tar' ? '' : `+${compression}`;
  return { bytes, mediaType: `application/vnd.oci.image.layer.v1.tar${suffix}`, digest: digestOf(bytes) };
}

export interface ImageConfigInput {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

/** An in-memory ImageSource; `tamper` replaces stored bytes without changing their digest key. */
export function createMemoryImages() {
  const blobs = new Map<string, Buffer>();
  const images: ImageSource = {
    async manifest(digest) {
      const b = blobs.get(digest);
      if (b === undefined) throw new Error(`no manifest ${digest}`);
      return b;
    },
    async blob(digest) {
      const b = blobs.get(digest);
      if (b === undefined) throw new Error(`no blob ${digest}`);
      return Readable.from([b]);
    },
  };
  const put = (bytes: Buffer): Digest => {
    const d = digestOf(bytes);
    blobs.set(d, bytes);
    return d;
  };
  return {
    images,
    tamper(digest: Digest, bytes: Buffer) {
      blobs.set(digest, bytes);
    },
    addImage(layers: FixtureLayer[], config: ImageConfigInput): Digest {
      const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config }));
      const configDigest = put(configBytes);
      for (const l of layers) blobs.set(l.digest, l.bytes);
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: configDigest,
          size: configBytes.length,
        },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
      };
      return put(Buffer.from(JSON.stringify(manifest)));
    },
  };
}

const HELLO_DIR = new URL('../../examples/hello/', import.meta.url);

/** The examples/hello service as a one-layer scratch image with entrypoint ["node", "/app/server.js"]. */
export async function helloImage(
  extra: FixtureEntry[] = [],
): Promise<{ layers: FixtureLayer[]; config: ImageConfigInput }> {
  const layer = await makeLayer([
    { name: 'app/', type: 'directory' },
    { name: 'app/server.js', content: readFileSync(new URL('server.js', HELLO_DIR), 'utf8') },
    { name: 'app/package.json', content: readFileSync(new URL('package.json', HELLO_DIR), 'utf8') },
    ...extra,
  ]);
  return {
    layers: [layer],
    config: { Entrypoint: ['node', '/app/server.js'], Env: ['PORT=8080'], WorkingDir: '/app', User: '1000:1000' },
  };
}
