import { setTimeout as sleep } from 'node:timers/promises';
import { type Digest, digestOf, parseDigest, verifyDigest } from '../core/index.ts';
import { parseChallenge } from './auth-challenge.ts';
import { MANIFEST_MEDIA_TYPES, MEDIA_TYPES } from './media-types.ts';
import { OCIError } from './oci-error.ts';
import type { ImageReference } from './reference.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** Credentials per registry host (`localhost:7070`), e.g. from flags or a docker config. */
  credentials?: (registry: string) => Credentials | null;
  /** Registries spoken to over plain HTTP (default: localhost and 127.0.0.1). */
  insecure?: (registry: string) => boolean;
  fetch?: typeof fetch;
  /** Attempts for requests that fail on the network, 429 or 5xx (default 4), with exponential backoff. */
  attempts?: number;
  /** Blobs larger than this go up in chunks of this size (default 32 MiB). */
  chunkSize?: number;
}

export interface BlobSource {
  digest: Digest;
  size: number;
  /** Opens the bytes; called again for each retry. */
  open(): AsyncIterable<Uint8Array>;
}

type Body = Uint8Array | (() => AsyncIterable<Uint8Array>);

const isLocal = (registry: string) => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry);

/** An OCI Distribution client for any registry: Basic and bearer-token auth, mounts, chunks, retries. */
export function createRegistryClient(options: RegistryClientOptions = {}) {
  const {
    credentials = () => null,
    insecure = isLocal,
    fetch: fetchImpl = fetch,
    attempts = 4,
    chunkSize = 32 * 1024 * 1024,
  } = options;
  // Authorization headers by registry + scope, so a token fetched once serves every later request.
  const authCache = new Map<string, string>();
  const base = (ref: ImageReference) => `${insecure(ref.registry) ? 'http' : 'https'}://${ref.registry}`;
  const repoUrl = (ref: ImageReference, path: string) => `${base(ref)}/v2/${ref.repository}/${path}`;

  async function authorize(
    ref: ImageReference,
    scopes: string[],
    challengeHeader: string | null,
  ): Promise<string | null> {
    const challenge = parseChallenge(challengeHeader);
    const creds = credentials(ref.registry);
    if (challenge?.scheme === 'basic') return creds === null ? null : basic(creds);
    if (challenge?.scheme !== 'bearer' || challenge.params.realm === undefined) return null;
    const url = new URL(challenge.params.realm);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    for (const scope of new Set([challenge.params.scope ?? scopes[0]!, ...scopes.slice(1)]))
      url.searchParams.append('scope', scope);
    const res = await fetchImpl(url, { headers: creds === null ? {} : { Authorization: basic(creds) } });
    if (!res.ok)
      throw new OCIError('UNSUPPORTED', `Cannot log in to ${ref.registry}: the token service answered ${res.status}`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    return token === undefined ? null : `Bearer ${token}`;
  }

  // One HTTP exchange with auth (one re-try after a challenge) and retries for transient failures.
  async function request(
    ref: ImageReference,
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: Body; push?: boolean; alsoPull?: string } = {},
  ) {
    // A mount also needs pull on the source repository, so its token asks for both.
    const scopes = [`repository:${ref.repository}:${init.push ? 'pull,push' : 'pull'}`];
    if (init.alsoPull !== undefined) scopes.push(`repository:${init.alsoPull}:pull`);
    const key = `${ref.registry} ${scopes.join(' ')}`;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(Math.min(200 * 2 ** attempt, 5000));
      try {
        let auth = authCache.get(key);
        for (let round = 0; round < 2; round++) {
          const body = typeof init.body === 'function' ? init.body() : init.body;
          const res = await fetchImpl(url, {
            method,
            headers: { ...init.headers, ...(auth === undefined ? {} : { Authorization: auth }) },
            redirect: 'follow',
            ...(body === undefined ? {} : { body: body as never, duplex: 'half' }),
          } as RequestInit);
          if (res.status === 401 && round === 0) {
            await res.body?.cancel();
            const next = await authorize(ref, scopes, res.headers.get('www-authenticate'));
            if (next === null) return res;
            auth = next;
            authCache.set(key, next);
            continue;
          }
          if ((res.status >= 500 || res.status === 429) && attempt < attempts - 1) {
            lastError = new OCIError('UNSUPPORTED', `${method} ${url} answered ${res.status}`);
            await res.body?.cancel();
            break;
          }
          return res;
        }
      } catch (err) {
        // Our own errors (a refused login) are final; network failures are worth another attempt.
        if (err instanceof OCIError) throw err;
        lastError = err;
      }
    }
    throw new OCIError(
      'UNSUPPORTED',
      `Cannot ${method} ${url}: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
      { cause: lastError },
    );
  }

  async function fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => '');
    let detail = text.slice(0, 300);
    try {
      const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
      if (body.errors?.[0]) detail = `${body.errors[0].code}: ${body.errors[0].message}`;
    } catch {}
    throw new OCIError(
      res.status === 400 ? 'MANIFEST_INVALID' : 'UNSUPPORTED',
      `Cannot ${what}: ${res.status} ${detail}`.trim(),
      { detail: { status: res.status } },
    );
  }

  const uploadTarget = (ref: ImageReference, location: string | null, params: Record<string, string> = {}) => {
    if (location === null)
      throw new OCIError('UNSUPPORTED', `Cannot upload to ${ref.registry}: no Location in its answer`);
    const url = new URL(location, base(ref));
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.toString();
  };

  const client = {
    /** Size of a blob when the registry has it in this repository, else null. */
    async blobSize(ref: ImageReference, digest: Digest): Promise<number | null> {
      const res = await request(ref, 'HEAD', repoUrl(ref, `blobs/${digest}`));
      if (res.status === 404) return null;
      if (!res.ok) return fail(res, `check blob ${digest}`);
      return Number(res.headers.get('content-length'));
    },

    /** Uploads a blob unless present; mounts it from `mountFrom` when the registry allows. Returns how. */
    async pushBlob(
      ref: ImageReference,
      blob: BlobSource,
      opts: { mountFrom?: string } = {},
    ): Promise<'exists' | 'mounted' | 'uploaded'> {
      if ((await client.blobSize(ref, blob.digest)) !== null) return 'exists';
      const query =
        opts.mountFrom === undefined ? '' : `?mount=${blob.digest}&from=${encodeURIComponent(opts.mountFrom)}`;
      const start = await request(ref, 'POST', repoUrl(ref, `blobs/uploads/${query}`), {
        push: true,
        ...(opts.mountFrom === undefined ? {} : { alsoPull: opts.mountFrom }),
      });
      if (start.status === 201) return 'mounted';
      if (start.status !== 202) return fail(start, `start an upload to ${ref.repository}`);
      let location = start.headers.get('location');
      if (blob.size <= chunkSize) {
        const res = await request(ref, 'PUT', uploadTarget(ref, location, { digest: blob.digest }), {
          push: true,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
          body: blob.open,
        });
        if (res.status !== 201) return fail(res, `upload blob ${blob.digest}`);
        return 'uploaded';
      }
      // Chunked: read the source once, PATCH each chunk with its range, then close with PUT ?digest=.
      let offset = 0;
      for await (const chunk of rechunk(blob.open(), chunkSize)) {
        const res = await request(ref, 'PATCH', uploadTarget(ref, location), {
          push: true,
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${offset}-${offset + chunk.byteLength - 1}`,
            'Content-Length': String(chunk.byteLength),
          },
          body: chunk,
        });
        if (res.status !== 202) return fail(res, `upload a chunk of ${blob.digest}`);
        location = res.headers.get('location') ?? location;
        offset += chunk.byteLength;
      }
      const done = await request(ref, 'PUT', uploadTarget(ref, location, { digest: blob.digest }), {
        push: true,
        headers: { 'Content-Length': '0' },
      });
      if (done.status !== 201) return fail(done, `finish blob ${blob.digest}`);
      return 'uploaded';
    },

    /** Puts a manifest under `reference` (tag or digest); reports whether the registry indexed its subject. */
    async pushManifest(ref: ImageReference, reference: string, bytes: Uint8Array, mediaType: string) {
      const res = await request(ref, 'PUT', repoUrl(ref, `manifests/${reference}`), {
        push: true,
        headers: { 'Content-Type': mediaType },
        body: bytes,
      });
      if (res.status !== 201) return fail(res, `push manifest to ${ref.repository}:${reference}`);
      return { digest: digestOf(bytes), subjectIndexed: res.headers.get('oci-subject') !== null };
    },

    /** A manifest by tag or digest, verified against the digest when asked by digest. */
    async getManifest(
      ref: ImageReference,
      reference: string,
    ): Promise<{ bytes: Uint8Array; mediaType: string; digest: Digest } | null> {
      const res = await request(ref, 'GET', repoUrl(ref, `manifests/${reference}`), {
        headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') },
      });
      if (res.status === 404) return null;
      if (!res.ok) return fail(res, `get manifest ${ref.repository}:${reference}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const algorithm = reference.includes(':') ? parseDigest(reference).algorithm : 'sha256';
      const digest = digestOf(bytes, algorithm);
      if (reference.includes(':') && digest !== reference) {
        throw new OCIError(
          'DIGEST_INVALID',
          `Cannot trust manifest ${reference}: the registry sent bytes hashing to ${digest}`,
        );
      }
      return { bytes, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!, digest };
    },

    /** Streams a blob, verifying its digest (and size) as it arrives. */
    async *getBlob(ref: ImageReference, digest: Digest, size?: number): AsyncGenerator<Uint8Array> {
      const res = await request(ref, 'GET', repoUrl(ref, `blobs/${digest}`));
      if (!res.ok || res.body === null) return yield* [await fail(res, `get blob ${digest}`)];
      yield* verifyDigest(res.body as AsyncIterable<Uint8Array>, digest, size === undefined ? {} : { size });
    },

    /** Referrers of `digest`: the referrers API, else the `sha256-<hex>` tag schema, else none. */
    async listReferrers(ref: ImageReference, digest: Digest, artifactType?: string) {
      const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
      const res = await request(ref, 'GET', repoUrl(ref, `referrers/${digest}${query}`));
      type Index = {
        manifests?: Array<{
          mediaType: string;
          digest: Digest;
          size: number;
          artifactType?: string;
          annotations?: Record<string, string>;
        }>;
      };
      let index: Index;
      if (res.ok) index = (await res.json()) as Index;
      else {
        await res.body?.cancel();
        const fallback = await client.getManifest(ref, referrersTag(digest));
        index = fallback === null ? {} : (JSON.parse(new TextDecoder().decode(fallback.bytes)) as Index);
      }
      const manifests = index.manifests ?? [];
      return artifactType === undefined ? manifests : manifests.filter((m) => m.artifactType === artifactType);
    },

    /**
     * Pushes a referrer manifest; when the registry did not index its subject (no OCI-Subject header),
     * adds it to the referrers tag schema as the distribution-spec asks clients to.
     */
    async pushReferrer(
      ref: ImageReference,
      bytes: Uint8Array,
      mediaType: string,
      subject: Digest,
      descriptor: { artifactType?: string; annotations?: Record<string, string> },
    ) {
      const digest = digestOf(bytes);
      const pushed = await client.pushManifest(ref, digest, bytes, mediaType);
      if (pushed.subjectIndexed) return pushed;
      const tag = referrersTag(subject);
      const current = await client.getManifest(ref, tag);
      const index =
        current === null
          ? { schemaVersion: 2, mediaType: MEDIA_TYPES.imageIndex, manifests: [] as unknown[] }
          : JSON.parse(new TextDecoder().decode(current.bytes));
      const manifests = (index.manifests as Array<{ digest: string }>).filter((m) => m.digest !== digest);
      manifests.push({ mediaType, digest, size: bytes.byteLength, ...descriptor } as { digest: string });
      await client.pushManifest(
        ref,
        tag,
        new TextEncoder().encode(JSON.stringify({ ...index, manifests })),
        MEDIA_TYPES.imageIndex,
      );
      return pushed;
    },

    async listTags(ref: ImageReference): Promise<string[]> {
      const tags: string[] = [];
      let url: string | null = repoUrl(ref, 'tags/list');
      while (url !== null) {
        const res = await request(ref, 'GET', url);
        if (res.status === 404) return [];
        if (!res.ok) return fail(res, `list tags of ${ref.repository}`);
        tags.push(...(((await res.json()) as { tags?: string[] }).tags ?? []));
        const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '');
        url = next === null ? null : new URL(next[1]!, base(ref)).toString();
      }
      return tags;
    },
  };
  return client;
}

export type RegistryClient = ReturnType<typeof createRegistryClient>;

/** The referrers tag schema's tag for a subject: `<alg>-<hex>`. */
export function referrersTag(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`;
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

// Re-slices a byte stream into chunks of exactly `size` bytes (the last may be shorter).
async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let held = 0;
  for await (let chunk of source) {
    while (held + chunk.byteLength >= size) {
      const take = size - held;
      parts.push(chunk.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      held = 0;
      chunk = chunk.subarray(take);
    }
    if (chunk.byteLength > 0) {
      parts.push(chunk);
      held += chunk.byteLength;
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}
