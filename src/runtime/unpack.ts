import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { type Digest, digestOf, isDigest, isErrorWithCode, parseDigest, verifyDigest } from '../core/index.ts';
import { type RootManifest, scanRoot } from './root-manifest.ts';
import { RuntimeError } from './runtime-error.ts';
import type { ImageSource } from './types.ts';

/** The parts of an OCI image config the driver runs. */
export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly user: string;
}

export interface UnpackedRoot {
  readonly image: Digest;
  /** The read-only root directory. */
  readonly dir: string;
  readonly config: ImageConfig;
  readonly manifest: RootManifest;
}

export interface Unpacker {
  /** Unpacks `image` once (concurrent calls share the work); later calls reuse the root on disk. */
  unpack(image: Digest): Promise<UnpackedRoot>;
  /** The root directory and its metadata file for an image, whether unpacked or not. */
  paths(image: Digest): { dir: string; meta: string };
}

const MAX_JSON = 4 * 1024 * 1024;
const LAYER_TYPES: Record<string, 'gzip' | 'zstd' | 'tar'> = {
  'application/vnd.oci.image.layer.v1.tar': 'tar',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
};

/** An unpacker writing roots under `rootsDir/<hex>` with their metadata in `rootsDir/<hex>.json`. */
export function createUnpacker(rootsDir: string, images: ImageSource): Unpacker {
  const pending = new Map<Digest, Promise<UnpackedRoot>>();
  const paths = (image: Digest) => {
    const { hex } = parseDigest(image);
    return { dir: join(rootsDir, hex), meta: join(rootsDir, `${hex}.json`) };
  };
  const unpack = async (image: Digest): Promise<UnpackedRoot> => {
    const { dir, meta } = paths(image);
    try {
      const saved = JSON.parse(await readFile(meta, 'utf8')) as Omit<UnpackedRoot, 'dir'>;
      await lstat(dir);
      return { ...saved, dir };
    } catch {}
    await mkdir(rootsDir, { recursive: true });
    const tmp = join(rootsDir, `${parseDigest(image).hex}.tmp-${randomBytes(4).toString('hex')}`);
    try {
      const { config, layers } = await readImage(images, image);
      await mkdir(tmp, { mode: 0o755 });
      const dirModes = new Map<string, number>();
      for (const layer of layers) await applyLayer(images, layer, tmp, dirModes);
      // Directories go read-only only now: extraction needed to write into them.
      for (const [path, mode] of [...dirModes].sort((a, b) => b[0].length - a[0].length)) {
        await chmod(join(tmp, path), mode & ~0o222);
      }
      await chmod(tmp, 0o555);
      const manifest = await scanRoot(tmp);
      await writeFile(meta, `${JSON.stringify({ image, config, manifest })}\n`);
      await rename(tmp, dir);
      return { image, dir, config, manifest };
    } catch (err) {
      await removeTree(tmp);
      throw err;
    }
  };
  return {
    paths,
    unpack(image) {
      let p = pending.get(image);
      if (p === undefined) {
        p = unpack(image).finally(() => pending.delete(image));
        pending.set(image, p);
      }
      return p;
    },
  };
}

/** Removes a tree even when it was made read-only. */
export async function removeTree(path: string): Promise<void> {
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => null);
    if (st === null || !st.isDirectory()) return;
    await chmod(p, 0o700);
    for (const name of await readdir(p)) await walk(join(p, name));
  };
  await walk(path);
  await rm(path, { recursive: true, force: true });
}

type Body = AsyncIterable<Uint8Array> & { resume(): unknown };

interface Layer {
  digest: Digest;
  kind: 'gzip' | 'zstd' | 'tar';
}

async function readAll(stream: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > limit) throw new RuntimeError('IMAGE_INVALID', `Cannot read image: a JSON blob exceeds ${limit} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function invalid(message: string): RuntimeError {
  return new RuntimeError('IMAGE_INVALID', `Cannot unpack image: ${message}`);
}

async function readImage(images: ImageSource, image: Digest): Promise<{ config: ImageConfig; layers: Layer[] }> {
  const bytes = await images.manifest(image);
  const { algorithm } = parseDigest(image);
  if (digestOf(bytes, algorithm) !== image) {
    throw new RuntimeError('DIGEST_MISMATCH', `Cannot unpack image: the manifest does not hash to ${image}`);
  }
  let manifest: { config?: { digest?: unknown }; layers?: Array<{ digest?: unknown; mediaType?: unknown }> };
  try {
    manifest = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new RuntimeError('IMAGE_INVALID', 'Cannot unpack image: the manifest is not JSON', { cause: err });
  }
  const configDigest = manifest.config?.digest;
  if (!isDigest(configDigest) || !Array.isArray(manifest.layers)) throw invalid('the manifest lacks config or layers');
  const layers = manifest.layers.map((l): Layer => {
    const kind = typeof l.mediaType === 'string' ? LAYER_TYPES[l.mediaType] : undefined;
    if (!isDigest(l.digest) || kind === undefined) throw invalid(`unsupported layer ${String(l.mediaType)}`);
    return { digest: l.digest, kind };
  });
  const raw = await readAll(verified(await images.blob(configDigest), configDigest), MAX_JSON);
  let parsed: { config?: Record<string, unknown> };
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new RuntimeError('IMAGE_INVALID', 'Cannot unpack image: the config is not JSON', { cause: err });
  }
  const c = parsed.config ?? {};
  const strings = (v: unknown): string[] =>
    Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : [];
  const config: ImageConfig = {
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env),
    workingDir: typeof c.WorkingDir === 'string' && c.WorkingDir !== '' ? c.WorkingDir : '/',
    user: typeof c.User === 'string' ? c.User : '',
  };
  return { config, layers };
}

async function* verified(source: AsyncIterable<Uint8Array>, digest: Digest): AsyncGenerator<Uint8Array> {
  try {
    yield* verifyDigest(source, digest);
  } catch (err) {
    if (isErrorWithCode(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH')) {
      throw new RuntimeError('DIGEST_MISMATCH', `Cannot unpack image: blob does not hash to ${digest}`, { cause: err });
    }
    throw err;
  }
}

/** A tar member name as a safe root-relative path ('' for the root itself); refuses `..` and NUL. */
function safeName(name: string): string {
  if (name.includes('\0') || name.split('/').includes('..')) {
    throw new RuntimeError('UNSAFE_PATH', `Cannot unpack image: entry "${name}" escapes the root`);
  }
  const norm = posix.normalize(`/${name}`).replace(/\/+$/, '');
  return norm.replace(/^\/+/, '');
}

/** Makes every parent of `rel` a real directory, refusing to go through a symlink. */
async function ensureParents(root: string, rel: string, dirModes: Map<string, number>): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let cur = '';
  for (const part of parts) {
    cur = cur === '' ? part : `${cur}/${part}`;
    const st = await lstat(join(root, cur)).catch(() => null);
    if (st?.isSymbolicLink()) {
      throw new RuntimeError('UNSAFE_PATH', `Cannot unpack image: "${rel}" would be written through symlink "${cur}"`);
    }
    if (st?.isDirectory()) continue;
    if (st !== null) await rm(join(root, cur), { force: true });
    await mkdir(join(root, cur), { mode: 0o755 });
    dirModes.set(cur, 0o755);
  }
}

async function clear(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (st === null) return;
  if (st.isDirectory()) await removeTree(path);
  else await rm(path, { force: true });
}

async function applyLayer(images: ImageSource, layer: Layer, root: string, dirModes: Map<string, number>) {
  const stages: Transform[] =
    layer.kind === 'gzip' ? [createGunzip()] : layer.kind === 'zstd' ? [createZstdDecompress()] : [];
  const ex = extract();
  const source = Readable.from(verified(await images.blob(layer.digest), layer.digest));
  const fed = (pipeline as (...s: unknown[]) => Promise<void>)(source, ...stages, ex);
  fed.catch(() => {});
  const written = new Set<string>();
  const opaque: string[] = [];
  try {
    for await (const entry of ex) {
      await applyEntry(root, entry.header, entry as unknown as Body, written, opaque, dirModes);
    }
    await fed;
  } catch (err) {
    ex.destroy();
    await fed.catch(() => {});
    if (err instanceof RuntimeError) throw err;
    const mismatch = await fed.then(
      () => null,
      (e: unknown) => e,
    );
    throw mismatch instanceof RuntimeError
      ? mismatch
      : new RuntimeError('IMAGE_INVALID', `Cannot unpack layer ${layer.digest}: ${(err as Error).message}`, {
          cause: err,
        });
  }
  // An opaque directory hides what lower layers put there; entries from this layer stay.
  for (const dir of opaque) {
    for (const name of await readdir(join(root, dir)).catch(() => [] as string[])) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (![...written].some((w) => w === rel || w.startsWith(`${rel}/`))) await clear(join(root, rel));
    }
  }
}

async function applyEntry(
  root: string,
  header: Header,
  body: Body,
  written: Set<string>,
  opaque: string[],
  dirModes: Map<string, number>,
): Promise<void> {
  const rel = safeName(header.name);
  const base = posix.basename(rel);
  const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
  if (rel === '') {
    body.resume();
    return;
  }
  await ensureParents(root, rel, dirModes);
  const target = join(root, rel);
  if (base === '.wh..wh..opq') {
    body.resume();
    opaque.push(parent);
    return;
  }
  if (base.startsWith('.wh.')) {
    body.resume();
    await clear(join(root, parent, base.slice(4)));
    return;
  }
  const mode = header.mode & 0o777;
  written.add(rel);
  switch (header.type) {
    case 'file':
    case 'contiguous-file': {
      await clear(target);
      await pipeline(body, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
      await chmod(target, mode & ~0o222);
      return;
    }
    case 'directory': {
      body.resume();
      const st = await lstat(target).catch(() => null);
      if (st !== null && !st.isDirectory()) await clear(target);
      if (st === null || !st.isDirectory()) await mkdir(target, { mode: 0o755 });
      await chmod(target, mode | 0o700);
      dirModes.set(rel, mode);
      return;
    }
    case 'symlink':
      body.resume();
      await clear(target);
      await symlink(header.linkname, target);
      return;
    case 'link': {
      body.resume();
      const from = safeName(header.linkname);
      await ensureParents(root, from, dirModes);
      await clear(target);
      await link(join(root, from), target);
      return;
    }
    default:
      body.resume();
      throw new RuntimeError('UNSAFE_PATH', `Cannot unpack image: "${rel}" is a ${header.type}, which is not allowed`);
  }
}
