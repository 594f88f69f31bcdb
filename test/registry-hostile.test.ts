// Hostile input against the registry, for every engine: malformed digests and names, paths that try to
// escape, digest mismatches, oversized and malformed manifests, bad chunk ranges and tags. Name and path
// cases go over a real socket, because inject() would normalize `..` and `//` the way a browser does.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { createHarness, type Harness } from './support/harness.ts';
import {
  assertOCIError,
  blob,
  client,
  descriptor,
  digestOf,
  EMPTY,
  freshRepo,
  imageManifest,
  manifestOf,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  uniqueBytes,
} from './support/registry-client.ts';

const MAX_MANIFEST = 2048;
const HEX64 = 'a'.repeat(64);

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with the path sent byte for byte, as a hostile client would. */
function raw(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string; chunked?: boolean } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) {
      if (options.chunked) {
        // Without Content-Length Node sends Transfer-Encoding: chunked, split into several writes.
        const body = Buffer.from(options.body);
        for (let i = 0; i < body.length; i += 500) req.write(body.subarray(i, i + 500));
      } else req.write(options.body);
    }
    req.end();
  });
}

function assertRawError(res: RawResponse, statuses: number[], codes: string[]): void {
  assert.ok(statuses.includes(res.status), `expected ${statuses.join('/')}, got ${res.status}: ${res.body}`);
  const body = JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code: string }> };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, res.body.toString());
  assert.ok(codes.includes(body.errors[0]!.code), `got code ${body.errors[0]!.code}`);
}

for (const engine of await testDatabases()) {
  describe(`registry hostile input (${engine.name.replace('Database', '')})`, () => {
    let h: Harness;
    let c: ReturnType<typeof client>;
    let port: number;
    const repo = freshRepo('hostile/app');
    let image: Awaited<ReturnType<ReturnType<typeof client>['pushImage']>>;

    before(async () => {
      h = await createHarness(await engine(), { maxManifestBytes: MAX_MANIFEST });
      c = client(h);
      image = await c.pushImage(repo, 'v1');
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      port = (h.app.server.address() as AddressInfo).port;
    });
    after(() => h.close());

    /** Snapshot of everything a request could create. */
    const state = async () => {
      let uploads = 0;
      for await (const _ of h.blobs.uploads.list()) uploads++;
      return { ...(await h.metadata.counts()), uploads };
    };

    describe('digests', () => {
      const BAD = [
        `sha256:${'A'.repeat(64)}`,
        `sha256:${'a'.repeat(63)}`,
        `sha256:${'a'.repeat(65)}`,
        'sha256:',
        `sha256:${'g'.repeat(64)}`,
        `sha512:${HEX64}`,
        `SHA256:${HEX64}`,
        `:${HEX64}`,
        HEX64.replace(/^a/, 'sha256-'),
      ];
      const UNKNOWN_ALGORITHM = ['md5:d41d8cd98f00b204e9800998ecf8427e', `sha384:${'a'.repeat(96)}`, `blake3:${HEX64}`];

      it('malformed digests answer 400 DIGEST_INVALID on every endpoint that takes one', async () => {
        for (const d of BAD) {
          for (const [method, url] of [
            ['GET', `/v2/${repo}/blobs/${d}`],
            ['DELETE', `/v2/${repo}/blobs/${d}`],
            ['GET', `/v2/${repo}/referrers/${d}`],
            ['POST', `/v2/${repo}/blobs/uploads/?digest=${d}`],
            ['POST', `/v2/${repo}/blobs/uploads/?mount=${d}&from=${repo}`],
          ] as const) {
            const res = await c.request(method, url, method === 'POST' ? { payload: 'x' } : {});
            // `sha256-…` has no colon, so it is not even shaped like a digest; a 404 is also honest there.
            if (d.includes(':')) assertOCIError(res, 400, 'DIGEST_INVALID');
            else assertOCIError(res, [400, 404], ['DIGEST_INVALID', 'BLOB_UNKNOWN']);
          }
          if (d.includes(':')) {
            assertOCIError(await c.request('GET', `/v2/${repo}/manifests/${d}`), 400, 'DIGEST_INVALID');
          }
        }
      });

      it('unknown algorithms answer 400 DIGEST_INVALID or UNSUPPORTED', async () => {
        for (const d of UNKNOWN_ALGORITHM) {
          for (const [method, url] of [
            ['GET', `/v2/${repo}/blobs/${d}`],
            ['GET', `/v2/${repo}/manifests/${d}`],
            ['GET', `/v2/${repo}/referrers/${d}`],
            ['POST', `/v2/${repo}/blobs/uploads/?digest=${d}`],
          ] as const) {
            const res = await c.request(method, url, method === 'POST' ? { payload: 'x' } : {});
            assertOCIError(res, 400, ['DIGEST_INVALID', 'UNSUPPORTED']);
          }
        }
      });

      it('closing an upload with a malformed digest answers 400 and keeps the session', async () => {
        const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
        const url = String(post.headers.location);
        for (const q of ['', '?digest=', `?digest=sha256:${'A'.repeat(64)}`, '?digest=md5:abc']) {
          assertOCIError(await c.request('PUT', `${url}${q}`, { payload: 'abc' }), 400, [
            'DIGEST_INVALID',
            'UNSUPPORTED',
          ]);
        }
        assert.equal((await c.request('GET', url)).statusCode, 204);
      });

      it('a blob PUT whose digest mismatches answers 400 DIGEST_INVALID and no blob is visible', async () => {
        const before = await state();
        const content = uniqueBytes('liar');
        const claimed = digestOf('something else entirely');
        const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
        const url = String(post.headers.location);
        const res = await c.request('PUT', `${url}?digest=${claimed}`, { payload: content });
        assertOCIError(res, 400, 'DIGEST_INVALID');
        for (const d of [claimed, digestOf(content)]) {
          assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${d}`)).statusCode, 404);
        }
        const after = await state();
        assert.equal(after.blobs, before.blobs);
        assert.equal(after.uploads, before.uploads);
      });

      it('a single POST whose digest mismatches answers 400 DIGEST_INVALID and stores nothing', async () => {
        const before = await state();
        const content = uniqueBytes('liar-post');
        const claimed = digestOf('not the content');
        const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${claimed}`, { payload: content });
        assertOCIError(res, 400, 'DIGEST_INVALID');
        assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${claimed}`)).statusCode, 404);
        assert.equal((await c.request('HEAD', `/v2/${repo}/blobs/${digestOf(content)}`)).statusCode, 404);
        assert.deepEqual(await state(), before);
      });

      it('a sha512 digest of sha256-hashed bytes is a mismatch, not a confusion', async () => {
        const content = uniqueBytes('algo-swap');
        const wrong = `sha512:${digestOf(content).slice(7)}${digestOf(content).slice(7)}`;
        const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${wrong}`, { payload: content });
        assertOCIError(res, 400, 'DIGEST_INVALID');
      });
    });

    describe('manifests', () => {
      const put = (ref: string, body: Buffer | string, contentType: string | null = OCI_MANIFEST) =>
        c.request('PUT', `/v2/${repo}/manifests/${ref}`, {
          headers: contentType === null ? {} : { 'content-type': contentType },
          payload: body,
        });
      /** An image manifest padded with an annotation to exactly `size` bytes. */
      const padded = (size: number) => {
        const base = (pad: string) =>
          imageManifest({ config: descriptor(image.config, OCI_CONFIG), annotations: { pad } });
        const overhead = base('').size;
        return base('x'.repeat(size - overhead));
      };

      it(`a manifest over the limit (${MAX_MANIFEST} bytes) answers 413 and is not stored`, async () => {
        const big = padded(MAX_MANIFEST + 1);
        assert.equal(big.size, MAX_MANIFEST + 1);
        const res = await c.pushManifest(repo, 'too-big', big);
        assertOCIError(res, 413, ['SIZE_INVALID', 'MANIFEST_INVALID']);
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${big.digest}`)).statusCode, 404);
        assert.ok(!(await c.tags(repo)).includes('too-big'));
      });

      it('a manifest of exactly the limit is accepted', async () => {
        const edge = padded(MAX_MANIFEST);
        assert.equal(edge.size, MAX_MANIFEST);
        assert.equal((await c.pushManifest(repo, 'at-limit', edge)).statusCode, 201);
      });

      it('an oversized manifest sent chunked (no Content-Length) answers 413 too', async () => {
        const big = padded(MAX_MANIFEST * 4);
        const res = await raw(port, 'PUT', `/v2/${repo}/manifests/chunked-big`, {
          headers: { authorization: h.auth(), 'content-type': OCI_MANIFEST },
          body: big.bytes,
          chunked: true,
        });
        assertRawError(res, [413], ['SIZE_INVALID', 'MANIFEST_INVALID']);
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${big.digest}`)).statusCode, 404);
      });

      it('a huge declared Content-Length is refused before the body is read', async () => {
        const res = await c.request('PUT', `/v2/${repo}/manifests/huge`, {
          headers: { 'content-type': OCI_MANIFEST, 'content-length': String(10 * 1024 * 1024 * 1024) },
          payload: '{}',
        });
        assert.equal(res.statusCode, 413);
      });

      it('malformed JSON answers 400 MANIFEST_INVALID', async () => {
        for (const body of [
          '{"schemaVersion":2,',
          'not json',
          '',
          '[]',
          'null',
          '"string"',
          '{"schemaVersion":1}',
          '{"schemaVersion":"2","config":{},"layers":[]}',
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}"}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":null,"layers":[]}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor(image.config, OCI_CONFIG))},"layers":{}}`,
        ]) {
          assertOCIError(await put('bad-json', body), 400, 'MANIFEST_INVALID');
        }
        // Bytes that are not UTF-8 at all.
        assertOCIError(await put('bad-utf8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400, 'MANIFEST_INVALID');
        assert.ok(!(await c.tags(repo)).includes('bad-json'));
      });

      it('an unknown manifest media type answers 400 MANIFEST_INVALID', async () => {
        const m = imageManifest({ config: descriptor(image.config, OCI_CONFIG) });
        for (const type of [
          'application/json',
          'text/plain',
          'application/vnd.docker.distribution.manifest.v1+prettyjws',
          'application/vnd.oci.image.config.v1+json',
          null,
        ]) {
          assertOCIError(await put('odd-type', m.bytes, type), 400, 'MANIFEST_INVALID');
        }
      });

      it('a mediaType field that disagrees with Content-Type answers 400 MANIFEST_INVALID', async () => {
        const m = imageManifest({ config: descriptor(image.config, OCI_CONFIG) });
        assertOCIError(await put('mismatch', m.bytes, OCI_INDEX), 400, 'MANIFEST_INVALID');
        const docker = manifestOf(
          { schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor(image.config, OCI_CONFIG), layers: [] },
          OCI_MANIFEST,
        );
        assertOCIError(
          await put('mismatch', docker.bytes, 'application/vnd.docker.distribution.manifest.v2+json'),
          400,
          'MANIFEST_INVALID',
        );
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${m.digest}`)).statusCode, 404);
      });

      it('Content-Type parameters and case do not matter', async () => {
        const m = imageManifest({ config: descriptor(image.config, OCI_CONFIG), annotations: { ct: 'params' } });
        const res = await put(m.digest, m.bytes, `${OCI_MANIFEST.toUpperCase()}; charset=utf-8`);
        assert.equal(res.statusCode, 201, res.body);
        const got = await c.request('GET', `/v2/${repo}/manifests/${m.digest}`);
        assert.equal(got.headers['content-type'], OCI_MANIFEST);
      });

      it('descriptors with bad digests, sizes or inline data answer 400', async () => {
        const cfg = descriptor(image.config, OCI_CONFIG);
        const cases: unknown[] = [
          { ...cfg, digest: `sha256:${'A'.repeat(64)}` },
          { ...cfg, digest: 'md5:d41d8cd98f00b204e9800998ecf8427e' },
          { ...cfg, size: -1 },
          { ...cfg, size: 1.5 },
          { ...cfg, size: '10' },
          { ...cfg, mediaType: 'not a media type' },
          { ...cfg, mediaType: undefined },
          { ...EMPTY, data: 'e3A=' },
          { ...EMPTY, data: 'e30=', size: 3 },
        ];
        for (const config of cases) {
          const m = manifestOf(
            { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/x', config, layers: [] },
            OCI_MANIFEST,
          );
          assertOCIError(await put(m.digest, m.bytes), 400, ['DIGEST_INVALID', 'MANIFEST_INVALID']);
        }
        const badSubject = manifestOf(
          { schemaVersion: 2, mediaType: OCI_MANIFEST, config: cfg, layers: [], subject: { mediaType: OCI_MANIFEST } },
          OCI_MANIFEST,
        );
        assertOCIError(await put(badSubject.digest, badSubject.bytes), 400, ['DIGEST_INVALID', 'MANIFEST_INVALID']);
        const badLayer = manifestOf(
          {
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: cfg,
            layers: [{ ...cfg, mediaType: OCI_LAYER, size: -5 }],
          },
          OCI_MANIFEST,
        );
        assertOCIError(await put(badLayer.digest, badLayer.bytes), 400, 'MANIFEST_INVALID');
        const badIndex = manifestOf(
          { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ digest: 'x' }] },
          OCI_INDEX,
        );
        assertOCIError(await put(badIndex.digest, badIndex.bytes, OCI_INDEX), 400, [
          'DIGEST_INVALID',
          'MANIFEST_INVALID',
        ]);
      });

      it('tags with invalid characters are refused, in the path and in ?tag=', async () => {
        const m = imageManifest({ config: descriptor(image.config, OCI_CONFIG), annotations: { tags: 'bad' } });
        for (const tag of ['-lead', '.lead', 'a+b', 'a!b', 'a'.repeat(129), 'tag@x', 'ümlaut']) {
          const res = await c.request('PUT', `/v2/${repo}/manifests/${encodeURIComponent(tag)}`, {
            headers: { 'content-type': m.mediaType },
            payload: m.bytes,
          });
          assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${tag}: ${res.statusCode}`);
          assertOCIError(res, [400, 404], ['MANIFEST_INVALID', 'NAME_INVALID', 'TAG_INVALID', 'DIGEST_INVALID']);
          const param = await c.request('PUT', `/v2/${repo}/manifests/${m.digest}?tag=${encodeURIComponent(tag)}`, {
            headers: { 'content-type': m.mediaType },
            payload: m.bytes,
          });
          assertOCIError(param, 400, ['MANIFEST_INVALID', 'TAG_INVALID', 'NAME_INVALID']);
        }
        // The refused pushes stored nothing.
        assert.equal((await c.request('HEAD', `/v2/${repo}/manifests/${m.digest}`)).statusCode, 404);
        // The longest legal tag is fine.
        const longest = `_${'a'.repeat(127)}`;
        assert.equal((await c.pushManifest(repo, longest, m)).statusCode, 201);
        assert.ok((await c.tags(repo)).includes(longest));
      });
    });

    describe('uploads', () => {
      it('malformed Content-Range headers are refused and leave the session as it was', async () => {
        const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
        const url = String(post.headers.location);
        for (const range of [
          'abc',
          '0-',
          '-5',
          '5-2',
          '0-4-5',
          'bytes 0-4/*x',
          '18446744073709551616-18446744073709551620',
        ]) {
          const res = await c.request('PATCH', url, {
            headers: { 'content-range': range, 'content-type': 'application/octet-stream' },
            payload: 'hello',
          });
          assertOCIError(res, [400, 416], ['BLOB_UPLOAD_INVALID', 'RANGE_INVALID', 'SIZE_INVALID']);
        }
        const status = await c.request('GET', url);
        assert.equal(status.statusCode, 204);
        assert.equal(status.headers.range, '0-0');
      });

      it('upload ids that are not ids answer 404 BLOB_UPLOAD_UNKNOWN (or 400), never touching files', async () => {
        for (const id of ['nope', '....................', 'a'.repeat(200), '__proto__', 'constructor']) {
          for (const method of ['GET', 'PATCH', 'PUT', 'DELETE'] as const) {
            const res = await c.request(method, `/v2/${repo}/blobs/uploads/${id}?digest=${digestOf('x')}`, {
              ...(method === 'PATCH' || method === 'PUT' ? { payload: 'x' } : {}),
            });
            assertOCIError(res, [400, 404], ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'NAME_INVALID']);
          }
        }
      });

      it('path tricks in upload ids do not reach the file system', async () => {
        for (const path of [
          `/v2/${repo}/blobs/uploads/..%2F..%2Fblobs`,
          `/v2/${repo}/blobs/uploads/%2e%2e`,
          `/v2/${repo}/blobs/uploads/../../../../etc/passwd`,
        ]) {
          const res = await raw(port, 'GET', path, { headers: { authorization: h.auth() } });
          assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
        }
      });

      it('a Range header with an unknown unit is ignored (RFC 9110 §14.2), a multi-range serves the whole blob', async () => {
        const layer = image.layers[0]!;
        const url = `/v2/${repo}/blobs/${layer.digest}`;
        for (const range of ['items=0-5', 'bytes=0-1,4-5']) {
          const res = await c.request('GET', url, { headers: { range } });
          assert.equal(res.statusCode, 200, range);
          assert.deepEqual(res.rawPayload, layer.bytes);
        }
      });
    });

    describe('repository names', () => {
      const long = 'a'.repeat(256);
      const segments = `${'ab/'.repeat(85)}ab`; // 257 characters of valid segments
      const names = [
        'a/../b',
        '..',
        '../etc',
        'a/%2e%2e/b',
        '%2e%2e',
        'a%2Fb',
        'Upper/case',
        'upperCase',
        'a//b',
        '/leading',
        'trailing/',
        long,
        segments,
        'a/-b',
        'a_',
        'a..b',
        'a/.hidden',
        'a b',
        'a%00b',
      ];
      const routes = (name: string) => [
        ['GET', `/v2/${name}/tags/list`],
        ['GET', `/v2/${name}/manifests/v1`],
        ['PUT', `/v2/${name}/manifests/v1`],
        ['POST', `/v2/${name}/blobs/uploads/`],
        ['POST', `/v2/${name}/blobs/uploads/?digest=${digestOf('x')}`],
        ['GET', `/v2/${name}/blobs/${digestOf('x')}`],
        ['GET', `/v2/${name}/referrers/${digestOf('x')}`],
        ['DELETE', `/v2/${name}/manifests/v1`],
      ];

      it('hostile names are never accepted and create nothing (400 NAME_INVALID where a route matches)', async () => {
        const before = await state();
        const m = imageManifest({ config: descriptor(image.config, OCI_CONFIG), annotations: { hostile: 'name' } });
        for (const name of names) {
          for (const [method, path] of routes(name)) {
            const body = method === 'PUT' ? m.bytes : method === 'POST' ? 'x' : undefined;
            const res = await raw(port, method!, path!.replace(/ /g, '%20'), {
              headers: {
                authorization: h.auth(),
                ...(method === 'PUT' ? { 'content-type': OCI_MANIFEST } : {}),
              },
              ...(body === undefined ? {} : { body }),
            });
            const where = `${method} ${path}`;
            assert.ok(res.status >= 400 && res.status < 500, `${where}: ${res.status} ${res.body}`);
            if (res.body.length > 0 && res.status !== 404) {
              assertRawError(res, [400], ['NAME_INVALID']);
            }
          }
        }
        assert.deepEqual(await state(), before);
        const catalog = (await c.request('GET', '/v2/_catalog')).json() as { repositories: string[] };
        for (const r of catalog.repositories)
          assert.match(r, /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/);
      });

      it('the exact names a client would try answer 400 NAME_INVALID with an OCI body', async () => {
        for (const name of ['a/../b', 'a/%2e%2e/b', 'Upper/case', 'a//b', '/leading', long]) {
          const res = await raw(port, 'GET', `/v2/${name}/tags/list`, { headers: { authorization: h.auth() } });
          assertRawError(res, [400], ['NAME_INVALID']);
        }
      });

      it('a 255-character name is valid', async () => {
        const name = `${'abcdefghij/'.repeat(23)}${'a'.repeat(2)}`;
        assert.equal(name.length, 255);
        const b = blob(uniqueBytes('long-name'));
        assert.equal((await c.pushBlob(name, b)).statusCode, 201);
      });

      it('an over-long path is refused without a 2xx', async () => {
        const res = await raw(port, 'GET', `/v2/${'a'.repeat(5000)}/tags/list`, {
          headers: { authorization: h.auth() },
        });
        assert.ok(res.status >= 400 && res.status < 500, `${res.status}`);
      });

      it('unknown /v2 endpoints answer 404 with an OCI error body', async () => {
        for (const path of [`/v2/${repo}/nothing`, `/v2/${repo}/blobs`, `/v2/${repo}/manifests/`]) {
          const res = await raw(port, 'GET', path, { headers: { authorization: h.auth() } });
          assertRawError(res, [400, 404], ['NAME_UNKNOWN', 'NAME_INVALID', 'UNSUPPORTED']);
        }
      });
    });
  });
}
