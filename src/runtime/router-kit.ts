import { Agent, createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import type { Digest } from '../core/index.ts';
import { type Backend, createRouter, type Router } from './router.ts';

/** Backends, routers and a client for the router's tests; everything opened is closed after the file's tests. */
export const A = `sha256:${'a1'.repeat(32)}` as Digest;
export const B = `sha256:${'b2'.repeat(32)}` as Digest;

/** A tiny deterministic PRNG so the weighted split is reproducible. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestBackend {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export const open: Array<{ close(): Promise<void> }> = [];
after(async () => {
  for (const o of open.reverse()) await o.close();
});

export async function backend(handler?: Parameters<typeof createServer>[1]): Promise<TestBackend> {
  const server = createServer(
    handler ??
      ((req, res) => {
        req.resume();
        res.end('ok');
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const handle: TestBackend = {
    server,
    port,
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  open.push(handle);
  return handle;
}

/** A port nothing listens on. */
export async function deadPort(): Promise<number> {
  const b = await backend();
  await b.close();
  return b.port;
}

export async function router(extra: Partial<Parameters<typeof createRouter>[0]> = {}): Promise<Router> {
  const r = createRouter({ environment: 'staging', service: 'web', random: seeded(42), ...extra });
  await r.listen();
  open.push(r);
  return r;
}

export const at = (instance: string, release: Digest, port: number): Backend => ({
  instance,
  release,
  host: '127.0.0.1',
  port,
});

export const agent = new Agent({ keepAlive: true, maxSockets: 16 });
after(() => agent.destroy());

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function call(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${options.path ?? '/'}`,
      { agent, method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
        // Cut short, a response closes without 'end' (and without 'error' unless one is listened for first).
        res.on('close', () => res.complete || reject(new Error('the response was cut short')));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
