import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { A, at, B, backend, deadPort, open, router } from './router-kit.ts';
import { openTunnel } from './router-tunnel.ts';

/** A backend that switches to an upper-casing echo protocol, and remembers what each upgrade request carried. */
async function echoBackend(name: string) {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders; early: string }> = [];
  const sockets = new Set<Duplex>();
  const b = await backend((_req, res) => res.end(name));
  b.server.on('upgrade', (req: IncomingMessage, socket: Duplex, early: Buffer) => {
    seen.push({ url: req.url ?? '', headers: req.headers, early: early.toString() });
    sockets.add(socket);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\nx-backend: ${name}\r\n\r\n`,
    );
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  // Upgraded connections are not the HTTP server's to close: as an instance that stops, cut them first.
  const close = () => {
    for (const s of sockets) s.destroy();
    return b.close();
  };
  open.push({ close });
  return { ...b, seen, close };
}

interface Upgraded {
  status: number;
  headers: IncomingHttpHeaders;
  socket: Duplex;
  body: string;
}

/** An upgrade request through `url`; resolves with the switched connection, or with the refusal's status and body. */
function upgradeTo(url: string, headers: Record<string, string> = {}, path = '/ws?x=1'): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { connection: 'Upgrade', upgrade: 'echo', ...headers } });
    req.on('upgrade', (res, socket) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, socket, body: '' }),
    );
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, socket: res.socket, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function exchange(socket: Duplex, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (d: Buffer) => resolve(d.toString()));
    socket.write(text);
  });
}

const closedIn = (socket: Duplex | Socket, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

describe('router upgrades (WebSocket and other protocols)', () => {
  test('an upgrade goes to a weighted release, switches, and carries bytes both ways; it is counted once', async () => {
    const a = await echoBackend('a');
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port)], weights: { [A]: 100 } });
    const since = r.mark();
    const up = await upgradeTo(r.url, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(up.status, 101);
    assert.equal(up.headers['x-backend'], 'a');
    assert.equal(await exchange(up.socket, 'hello'), 'HELLO');
    assert.equal(await exchange(up.socket, 'again'), 'AGAIN');
    const [seen] = a.seen;
    assert.equal(seen?.url, '/ws?x=1');
    assert.equal(seen?.headers.upgrade, 'echo');
    assert.equal(seen?.headers.connection, 'upgrade');
    assert.equal(seen?.headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    const counts = r.window(A, since);
    assert.equal(counts.requests, 1);
    assert.equal(counts.errors, 0);
    up.socket.destroy();
  });

  test('a pinned upgrade goes to its release; bytes sent with the head reach the backend', async () => {
    const [a, b] = [await echoBackend('a'), await echoBackend('b')];
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port), at('b-1', B, b.port)], weights: { [A]: 100, [B]: 0 } });
    const url = new URL(r.url);
    const raw = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => raw.once('connect', resolve));
    const answer = new Promise<string>((resolve) => {
      let text = '';
      raw.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\n')) resolve(text);
      });
    });
    // The head and the first bytes of the new protocol in one write, as a client may send them.
    raw.write(
      `GET /chat HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: echo\r\nx-fixity-release: ${B}\r\n\r\nearly`,
    );
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.match(text, /x-backend: b/);
    assert.equal(b.seen.length, 1);
    assert.equal(a.seen.length, 0);
    assert.equal(b.seen[0]?.headers.host, 'x');
    assert.equal(b.seen[0]?.early, 'early');
    raw.destroy();
  });

  test('an unreachable backend is skipped for the next one; none left is 502 BACKEND_UNREACHABLE', async () => {
    const a = await echoBackend('a');
    const dead = await deadPort();
    const r = await router();
    await r.update({ backends: [at('dead', A, dead), at('a-1', A, a.port)], weights: { [A]: 100 } });
    const since = r.mark();
    const up = await upgradeTo(r.url);
    assert.equal(up.status, 101);
    assert.equal(await exchange(up.socket, 'x'), 'X');
    up.socket.destroy();
    assert.equal(r.window(A, since).connectionFailures, 1);

    await r.update({ backends: [at('dead', A, dead)], weights: { [A]: 100 } });
    const refused = await upgradeTo(r.url);
    assert.equal(refused.status, 502);
    assert.equal(JSON.parse(refused.body).error.code, 'BACKEND_UNREACHABLE');
  });

  test('no backend is 503 NO_BACKEND; a pin to a release without one is 503 PINNED_RELEASE_UNAVAILABLE', async () => {
    const r = await router();
    const none = await upgradeTo(r.url);
    assert.equal(none.status, 503);
    assert.equal(JSON.parse(none.body).error.code, 'NO_BACKEND');
    const a = await echoBackend('a');
    await r.update({ backends: [at('a-1', A, a.port)], weights: { [A]: 100 } });
    const pinned = await upgradeTo(r.url, { 'x-fixity-release': B });
    assert.equal(pinned.status, 503);
    assert.equal(JSON.parse(pinned.body).error.code, 'PINNED_RELEASE_UNAVAILABLE');
  });

  test('a backend that declines the upgrade is answered through, and its status counted', async () => {
    const b = await backend();
    b.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope');
    });
    const r = await router();
    await r.update({ backends: [at('b-1', A, b.port)], weights: { [A]: 100 } });
    const since = r.mark();
    const up = await upgradeTo(r.url);
    assert.equal(up.status, 426);
    assert.equal(up.body, 'nope');
    const counts = r.window(A, since);
    assert.equal(counts.requests, 1);
    assert.equal(counts.errors, 0);
  });

  test('a backend silent past the timeout is 504 BACKEND_TIMEOUT', async () => {
    const b = await backend();
    // Silent, and closing only its side when told: the router must not wait on it.
    b.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => {});
      socket.on('end', () => socket.end());
    });
    const r = await router({ upstreamTimeoutMs: 200 });
    await r.update({ backends: [at('b-1', A, b.port)], weights: { [A]: 100 } });
    const since = r.mark();
    const up = await upgradeTo(r.url);
    assert.equal(up.status, 504);
    assert.equal(JSON.parse(up.body).error.code, 'BACKEND_TIMEOUT');
    assert.equal(r.window(A, since).errors, 1);
  });

  test('a drain does not wait on upgraded connections; they end when their backend closes them', async () => {
    const a = await echoBackend('a');
    const b = await echoBackend('b');
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port)], weights: { [A]: 100 } });
    const up = await upgradeTo(r.url);
    const started = Date.now();
    await r.update({ backends: [at('b-1', B, b.port)], weights: { [B]: 100 } });
    assert.ok(Date.now() - started < 1000, 'the drain returned at once');
    assert.equal(await exchange(up.socket, 'still'), 'STILL');
    await a.close();
    assert.ok(await closedIn(up.socket, 2000), 'the client side closes with the backend');
  });

  test('close() cuts open upgraded connections at once', async () => {
    const a = await echoBackend('a');
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port)], weights: { [A]: 100 } });
    const up = await upgradeTo(r.url);
    assert.equal(await exchange(up.socket, 'x'), 'X');
    const started = Date.now();
    await r.close();
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    assert.ok(await closedIn(up.socket, 1000));
  });
});

describe('openTunnel()', () => {
  test('a side that never closes after the other sent its FIN is cut after the half-closed time', async () => {
    const stubborn = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n'));
      // never ends its side
    });
    await new Promise<void>((resolve) => stubborn.listen(0, '127.0.0.1', resolve));
    const events: string[] = [];
    let closedAt = 0;
    // allowHalfOpen as Node's HTTP server has it, so a FIN does not close the socket by itself.
    const front = createServer({ allowHalfOpen: true }, (client) => {
      openTunnel(
        client,
        { host: '127.0.0.1', port: (stubborn.address() as AddressInfo).port },
        'GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n',
        Buffer.alloc(0),
        5_000,
        {
          answered: (status) => events.push(`answered ${status}`),
          failed: (kind) => events.push(`failed ${kind}`),
          closed: () => {
            events.push('closed');
            closedAt = Date.now();
          },
        },
        150,
      );
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const socket = connect((front.address() as AddressInfo).port, '127.0.0.1');
      await new Promise((resolve) => socket.once('data', resolve));
      const finAt = Date.now();
      socket.end();
      assert.ok(await closedIn(socket, 2000), 'the client connection is closed');
      assert.deepEqual(events, ['answered 101', 'closed']);
      assert.ok(closedAt - finAt >= 100, `cut after ${closedAt - finAt} ms, not at once`);
    } finally {
      front.close();
      stubborn.close();
    }
  });
});
