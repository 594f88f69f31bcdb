// A minimal OCI client for end-to-end suites over node:http, one connection per request (no pool to go
// stale when a server is killed), plus the on-disk checks the crash suites share.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** One HTTP request on its own connection; rejects only when the connection fails. */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Uint8Array | string } = {},
): Promise<Reply> {
  const { method = 'GET', headers = {}, body } = options;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A registry session for one server URL and one `Authorization` value. */
export interface Registry {
  url: string;
  auth: string;
}

const resolveLocation = (base: string, location: string | string[] | undefined): string => {
  if (typeof location !== 'string') throw new Error('Cannot follow the upload: the response has no Location');
  return new URL(location, base).toString();
};

/** Appends `digest=` to an upload location that may already carry a query. */
export function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}

/** POST /blobs/uploads/ and return the absolute upload location. */
export async function startUpload(reg: Registry, repo: string): Promise<string> {
  const res = await request(`${reg.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { Authorization: reg.auth, 'Content-Length': 0 },
  });
  if (res.status !== 202) throw new Error(`Cannot start upload: HTTP ${res.status} ${res.body.toString()}`);
  return resolveLocation(reg.url, res.headers.location);
}

/** POST then PUT (monolithic); returns the PUT reply. */
export async function pushBlob(reg: Registry, repo: string, bytes: Uint8Array): Promise<Reply> {
  const location = await startUpload(reg, repo);
  return request(withDigest(location, sha256(bytes)), {
    method: 'PUT',
    headers: { Authorization: reg.auth, 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
    body: bytes,
  });
}

export async function pushManifest(reg: Registry, repo: string, ref: string, bytes: Uint8Array): Promise<Reply> {
  return request(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { Authorization: reg.auth, 'Content-Type': OCI_MANIFEST, 'Content-Length': bytes.length },
    body: bytes,
  });
}

export async function getManifest(reg: Registry, repo: string, ref: string): Promise<Reply> {
  return request(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    headers: { Authorization: reg.auth, Accept: OCI_MANIFEST },
  });
}

export async function getBlob(reg: Registry, repo: string, digest: string, method = 'GET'): Promise<Reply> {
  return request(`${reg.url}/v2/${repo}/blobs/${digest}`, { method, headers: { Authorization: reg.auth } });
}

export async function listTags(reg: Registry, repo: string): Promise<string[]> {
  const res = await request(`${reg.url}/v2/${repo}/tags/list`, { headers: { Authorization: reg.auth } });
  if (res.status === 404) return [];
  if (res.status !== 200) throw new Error(`Cannot list tags of ${repo}: HTTP ${res.status} ${res.body.toString()}`);
  return (JSON.parse(res.body.toString()) as { tags: string[] | null }).tags ?? [];
}

export interface Image {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  digest: string;
}

/** A small, valid single-layer image whose bytes depend on `seed` (and the layer on `layerSeed`). */
export function makeImage(seed: string, layerSeed = seed): Image {
  const layer = Buffer.from(`layer ${layerSeed}\n`.repeat(8));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: [`SEED=${seed}`] },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
      annotations: { 'org.example.seed': seed },
    }),
  );
  return { config, layer, manifest, digest: sha256(manifest) };
}

/** Pushes an image's blobs and then its manifest under `tag`; returns the manifest PUT reply. */
export async function pushImage(reg: Registry, repo: string, tag: string, image: Image): Promise<Reply> {
  for (const blob of [image.layer, image.config]) {
    const res = await pushBlob(reg, repo, blob);
    if (res.status !== 201) return res;
  }
  return pushManifest(reg, repo, tag, image.manifest);
}

/** Files under DIR/blobs/<alg>/ whose bytes do not hash to their name (each a description). */
export async function corruptBlobFiles(dataDir: string): Promise<string[]> {
  const bad: string[] = [];
  for (const algorithm of ['sha256', 'sha512']) {
    const dir = join(dataDir, 'blobs', algorithm);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const bytes = await readFile(join(dir, name));
      const actual = createHash(algorithm).update(bytes).digest('hex');
      if (actual !== name) bad.push(`${algorithm}/${name} (${bytes.length} bytes hash to ${actual})`);
    }
  }
  return bad;
}

/** Names in DIR/blobs/sha256. */
export async function blobFiles(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'blobs', 'sha256'))).sort();
}

/** A request whose body is written piece by piece, so a test can stop (or crash the server) halfway. */
export interface OpenRequest {
  /** Writes part of the body; resolves once it is handed to the socket. */
  write(bytes: Uint8Array): Promise<void>;
  end(bytes?: Uint8Array): void;
  /** The reply, or the connection error (never rejects). */
  result: Promise<Reply | Error>;
}

export function openRequest(url: string, method: string, headers: Record<string, string | number>): OpenRequest {
  const req = http.request(url, { method, headers, agent: false });
  const result = new Promise<Reply | Error>((resolve) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', resolve);
    });
    req.on('error', resolve);
  });
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        req.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
    end: (bytes) => {
      req.end(bytes);
    },
    result,
  };
}

/** Events from GET /api/v1/events, all pages. */
export async function listAllEvents(
  url: string,
  auth: string,
): Promise<Array<{ seq: number; kind: string; repo: string | null; digest: string | null; tag: string | null }>> {
  const all: Array<{ seq: number; kind: string; repo: string | null; digest: string | null; tag: string | null }> = [];
  for (;;) {
    const after = all.at(-1)?.seq ?? 0;
    const res = await request(`${url}/api/v1/events?after=${after}&limit=1000`, { headers: { Authorization: auth } });
    if (res.status !== 200) throw new Error(`Cannot list events: HTTP ${res.status} ${res.body.toString()}`);
    const { items } = JSON.parse(res.body.toString()) as { items: typeof all };
    if (items.length === 0) return all;
    all.push(...items);
  }
}
