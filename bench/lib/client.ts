/**
 * A minimal OCI distribution client used identically against every registry under test.
 * Bodies are streamed (files via fs.createReadStream) and responses are streamed and hashed,
 * so the benchmark never holds a large blob in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Agent, type IncomingMessage, type OutgoingHttpHeaders, request } from 'node:http';
import { pipeline } from 'node:stream/promises';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** A request body: nothing, bytes in memory (small blobs, manifests) or a file streamed from disk. */
export type Body = { kind: 'none' } | { kind: 'bytes'; bytes: Buffer } | { kind: 'file'; path: string; size: number };

export interface ClientOptions {
  baseUrl: string;
  /** Sent verbatim as the Authorization header on every request when present. */
  authorization?: string;
  /** Upper bound of parallel keep-alive connections. */
  maxSockets: number;
  /** A request fails after this long without any socket activity (a hung server), default 60 s. */
  idleTimeoutMs?: number;
}

/** Raised when a registry answers with an unexpected status; carries enough detail to report a bug. */
export class UnexpectedResponse extends Error {
  readonly status: number;
  constructor(method: string, url: URL, status: number, expected: readonly number[], body: string) {
    super(
      `${method} ${url.pathname}${url.search} → ${status} (expected ${expected.join('/')})${body ? `: ${body.slice(0, 500)}` : ''}`,
    );
    this.name = 'UnexpectedResponse';
    this.status = status;
  }
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class RegistryClient {
  readonly baseUrl: URL;
  readonly agent: Agent;
  readonly #authorization: string | undefined;
  readonly #idleTimeoutMs: number;

  constructor(options: ClientOptions) {
    this.baseUrl = new URL(options.baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets });
    this.#authorization = options.authorization;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  }

  close(): void {
    this.agent.destroy();
  }

  /** The Authorization header value sent on every request, for another client (curl) to send the same. */
  get authorization(): string | undefined {
    return this.#authorization;
  }

  /** Sends one request and resolves with the response head; the body is left for the caller to consume. */
  send(method: string, target: string | URL, headers: OutgoingHttpHeaders, body: Body): Promise<IncomingMessage> {
    const url = typeof target === 'string' ? new URL(target, this.baseUrl) : target;
    const allHeaders: OutgoingHttpHeaders = { 'user-agent': 'fixity-bench/1', ...headers };
    if (this.#authorization !== undefined) allHeaders.authorization = this.#authorization;
    if (body.kind === 'bytes') allHeaders['content-length'] = String(body.bytes.length);
    if (body.kind === 'file') allHeaders['content-length'] = String(body.size);
    if (body.kind === 'none' && method !== 'GET' && method !== 'HEAD') allHeaders['content-length'] = '0';
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { method, headers: allHeaders, agent: this.agent }, resolve);
      req.on('error', reject);
      req.setTimeout(this.#idleTimeoutMs, () => {
        const seconds = this.#idleTimeoutMs / 1000;
        req.destroy(new Error(`${method} ${url.pathname}${url.search}: no response after ${seconds} s of inactivity`));
      });
      if (body.kind === 'file') {
        pipeline(createReadStream(body.path, { highWaterMark: 1 << 20 }), req).catch(reject);
      } else {
        req.end(body.kind === 'bytes' ? body.bytes : undefined);
      }
    });
  }

  /** Sends a request, requires one of the expected statuses and returns the (small) response body. */
  async call(
    method: string,
    target: string | URL,
    headers: OutgoingHttpHeaders,
    body: Body,
    expected: readonly number[],
  ): Promise<{ res: IncomingMessage; body: Buffer }> {
    const url = typeof target === 'string' ? new URL(target, this.baseUrl) : target;
    const res = await this.send(method, url, headers, body);
    const payload = await readAll(res);
    if (!expected.includes(res.statusCode ?? 0)) {
      throw new UnexpectedResponse(method, url, res.statusCode ?? 0, expected, payload.toString('utf8'));
    }
    return { res, body: payload };
  }

  /** Monolithic upload: POST /v2/<repo>/blobs/uploads/ then PUT <location>?digest=… with the whole body. */
  async pushBlob(repo: string, digest: string, body: Body): Promise<void> {
    const start = await this.call('POST', `/v2/${repo}/blobs/uploads/`, {}, { kind: 'none' }, [202]);
    const location = start.res.headers.location;
    if (!location) throw new Error(`POST /v2/${repo}/blobs/uploads/ → 202 without a Location header`);
    const url = new URL(location, this.baseUrl);
    url.searchParams.set('digest', digest);
    const done = await this.call('PUT', url, { 'content-type': 'application/octet-stream' }, body, [201]);
    const echoed = done.res.headers['docker-content-digest'];
    if (echoed !== undefined && echoed !== digest) {
      throw new Error(`PUT ${url.pathname} → 201 but Docker-Content-Digest is ${String(echoed)}, expected ${digest}`);
    }
  }

  /** Streams a blob, hashing it as it arrives, and checks both digest and length. Returns the byte count. */
  async pullBlob(repo: string, digest: string, expectedSize: number): Promise<number> {
    const url = new URL(`/v2/${repo}/blobs/${digest}`, this.baseUrl);
    const res = await this.send('GET', url, {}, { kind: 'none' });
    if (res.statusCode !== 200) {
      throw new UnexpectedResponse('GET', url, res.statusCode ?? 0, [200], (await readAll(res)).toString('utf8'));
    }
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest || bytes !== expectedSize) {
      throw new Error(
        `GET ${url.pathname} returned ${bytes} bytes with digest ${actual}, expected ${expectedSize} ${digest}`,
      );
    }
    return bytes;
  }

  async putManifest(repo: string, reference: string, manifest: Buffer, mediaType: string): Promise<void> {
    await this.call(
      'PUT',
      `/v2/${repo}/manifests/${reference}`,
      { 'content-type': mediaType },
      { kind: 'bytes', bytes: manifest },
      [201],
    );
  }

  /** Fetches a manifest and returns its bytes (status 200 required). */
  async getManifest(repo: string, reference: string, accept: string): Promise<Buffer> {
    const { body } = await this.call('GET', `/v2/${repo}/manifests/${reference}`, { accept }, { kind: 'none' }, [200]);
    return body;
  }
}

/** Builds a minimal single-layer OCI image manifest over a config and a layer that were already pushed. */
export function imageManifest(config: Buffer, layer: Buffer): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256Digest(layer), size: layer.length }],
  };
  return Buffer.from(JSON.stringify(manifest));
}
