// Small helpers for the registry conformance suites (test/registry-*.test.ts): content builders, the
// requests every workflow repeats, and an assertion for the distribution-spec error body.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Digest, DigestAlgorithm } from '../../src/core/index.ts';
import type { Harness } from './harness.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** The `{}` blob artifact manifests use as config (image-spec "empty descriptor"). */
export const EMPTY = {
  mediaType: OCI_EMPTY,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest,
  size: 2,
};

export type Response = Awaited<ReturnType<Harness['app']['inject']>>;

export interface Blob {
  bytes: Buffer;
  digest: Digest;
  size: number;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Record<string, string>;
}

let counter = 0;
/** Bytes no other call returns, so tests sharing one database never collide. */
export function uniqueBytes(label: string, size = 64): Buffer {
  const head = Buffer.from(`${label}:${process.pid}:${++counter}:${Math.random()}:`);
  return Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length), counter % 251)]).subarray(0, size);
}

/** A repository name no other test uses. */
export function freshRepo(prefix: string): string {
  return `${prefix}-${++counter}`;
}

export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

export function blob(content: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): Blob {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { bytes, digest: digestOf(bytes, algorithm), size: bytes.byteLength };
}

export function descriptor(b: Blob, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: b.digest, size: b.size, ...extra };
}

/** Serialized manifest bytes, their digest and media type, ready to PUT. */
export interface Manifest extends Blob {
  mediaType: string;
}

export function manifestOf(doc: unknown, mediaType: string, algorithm: DigestAlgorithm = 'sha256'): Manifest {
  return { ...blob(Buffer.from(JSON.stringify(doc)), algorithm), mediaType };
}

export function imageManifest(fields: {
  config: Descriptor;
  layers?: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  mediaType?: string;
}): Manifest {
  const mediaType = fields.mediaType ?? OCI_MANIFEST;
  return manifestOf(
    {
      schemaVersion: 2,
      mediaType,
      ...(fields.artifactType === undefined ? {} : { artifactType: fields.artifactType }),
      config: fields.config,
      layers: fields.layers ?? [],
      ...(fields.subject === undefined ? {} : { subject: fields.subject }),
      ...(fields.annotations === undefined ? {} : { annotations: fields.annotations }),
    },
    mediaType,
  );
}

export function indexManifest(manifests: Descriptor[], mediaType = OCI_INDEX, extra: Record<string, unknown> = {}) {
  return manifestOf({ schemaVersion: 2, mediaType, manifests, ...extra }, mediaType);
}

/** The descriptor an index or a `subject` uses to point at a manifest. */
export function manifestDescriptor(m: Manifest, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.size, ...extra };
}

/** A bound request helper: admin Basic auth unless `auth` is given (null sends no Authorization). */
export function client(h: Harness) {
  const request = (
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options: { headers?: Record<string, string>; payload?: Buffer | string; auth?: string | null } = {},
  ): Promise<Response> => {
    const auth = options.auth === undefined ? h.auth() : options.auth;
    return h.app.inject({
      method,
      url,
      headers: { ...(auth === null ? {} : { authorization: auth }), ...options.headers },
      ...(options.payload === undefined ? {} : { payload: options.payload }),
    });
  };

  return {
    request,
    /** Single-POST monolithic upload (`POST …/uploads/?digest=`). */
    async pushBlob(repo: string, b: Blob, auth?: string | null): Promise<Response> {
      const res = await request('POST', `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, {
        headers: { 'content-type': 'application/octet-stream' },
        payload: b.bytes,
        ...(auth === undefined ? {} : { auth }),
      });
      return res;
    },
    async pushManifest(repo: string, ref: string, m: Manifest, auth?: string | null): Promise<Response> {
      return request('PUT', `/v2/${repo}/manifests/${ref}`, {
        headers: { 'content-type': m.mediaType },
        payload: m.bytes,
        ...(auth === undefined ? {} : { auth }),
      });
    },
    /** Pushes a config blob and `layers` small layers, then the manifest under `tag`; returns all of it. */
    async pushImage(repo: string, tag: string | null, options: { layers?: number; label?: string } = {}) {
      const config = blob(uniqueBytes(`config-${options.label ?? repo}`));
      const layers = Array.from({ length: options.layers ?? 1 }, (_, i) => blob(uniqueBytes(`layer${i}-${repo}`, 256)));
      for (const b of [config, ...layers]) assert.equal((await this.pushBlob(repo, b)).statusCode, 201);
      const manifest = imageManifest({
        config: descriptor(config, OCI_CONFIG),
        layers: layers.map((l) => descriptor(l, OCI_LAYER)),
      });
      const res = await this.pushManifest(repo, tag ?? manifest.digest, manifest);
      assert.equal(res.statusCode, 201, res.body);
      return { config, layers, manifest };
    },
    async tags(repo: string): Promise<string[]> {
      const res = await request('GET', `/v2/${repo}/tags/list`);
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { tags: string[] }).tags;
    },
    /** Events after `after` from the admin JSON API. */
    async events(after = 0): Promise<EventView[]> {
      const res = await h.app.inject({
        method: 'GET',
        url: `/api/v1/events?after=${after}&limit=10000`,
        headers: { authorization: `Bearer ${h.adminToken}` },
      });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { items: EventView[] }).items;
    },
  };
}

export interface EventView {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  repo: string | null;
  digest: string | null;
  tag: string | null;
  previous: string | null;
}

/** Asserts the status and the distribution-spec error body `{"errors":[{code,message,…}]}` carrying `codes`. */
export function assertOCIError(res: Response, status: number | number[], codes: string | string[]): void {
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(
    statuses.includes(res.statusCode),
    `expected HTTP ${statuses.join('/')}, got ${res.statusCode}: ${res.body}`,
  );
  if (res.raw.req.method === 'HEAD') return;
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json() as { errors?: Array<{ code?: unknown; message?: unknown }> };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `no errors array in ${res.body}`);
  for (const e of body.errors) {
    assert.equal(typeof e.code, 'string');
    assert.equal(typeof e.message, 'string');
  }
  const wanted = Array.isArray(codes) ? codes : [codes];
  assert.ok(
    wanted.includes(body.errors[0]!.code as string),
    `expected code ${wanted.join('/')}, got ${String(body.errors[0]!.code)}`,
  );
}

/** Basic `Authorization` for an arbitrary user/password pair. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
