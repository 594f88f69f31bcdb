import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { A, agent, at, backend, call, open, router } from './router-kit.ts';

/** A backend speaking raw bytes: `answer` gets each request head (up to CRLFCRLF) and the socket. */
async function rawBackend(
  answer: (socket: Socket, head: string) => void,
): Promise<{ port: number; connections(): number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        answer(socket, head);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

describe('router upstream', () => {
  test('router passes on a chunked response and sends a chunked request body chunked', async () => {
    const b = await backend((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => hash.update(c));
      req.on('end', () => {
        res.write(`${req.headers['transfer-encoding']} `);
        res.write(hash.digest('hex'));
        res.addTrailers({ 'x-trailer': 'dropped' });
        res.end();
      });
    });
    const r = await router();
    await r.update({ backends: [at('a-1', A, b.port)], weights: { [A]: 100 } });
    const body = randomBytes(300_000);
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      // No content-length: Node's client sends the body chunked.
      const req = request(`${r.url}/`, { method: 'POST', agent }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(body.subarray(0, 100_000));
      setTimeout(() => req.end(body.subarray(100_000)), 20);
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, `chunked ${createHash('sha256').update(body).digest('hex')}`);
  });

  test('router streams a large response to a slow client without losing a byte', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const b = await backend((_req, res) => res.end(payload));
    // A timeout far shorter than the client's pause: waiting on the client is not the backend's silence.
    // (Not much shorter than 200 ms: backend, router and client share this process, which a busy machine can
    // stall for tens of ms, and the backend is then as silent as it looks.)
    const r = await router({ upstreamTimeoutMs: 200 });
    await r.update({ backends: [at('a-1', A, b.port)], weights: { [A]: 100 } });
    const digest = await new Promise<string>((resolve, reject) => {
      request(`${r.url}/`, { agent }, (res) => {
        const hash = createHash('sha256');
        res.pause();
        // A response cut short is destroyed without an 'error' when nobody listens for one: say so, not hang.
        res.on('close', () => res.complete || reject(new Error('the response was cut short')));
        setTimeout(() => {
          res.on('data', (c: Buffer) => hash.update(c));
          res.on('end', () => resolve(hash.digest('hex')));
          res.resume();
        }, 600);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(digest, createHash('sha256').update(payload).digest('hex'));
  });

  test('router answers HEAD without a body and reuses the connection', async () => {
    const raw = await rawBackend((socket, head) => {
      socket.write(
        head.startsWith('HEAD ')
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
      );
    });
    const r = await router();
    await r.update({ backends: [at('a-1', A, raw.port)], weights: { [A]: 100 } });
    const head = await call(r.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body.length, 0);
    assert.equal((await call(r.url)).body.toString(), 'hello');
    assert.equal(raw.connections(), 1);
  });

  test('router skips interim responses and reads a body that ends with the connection', async () => {
    const raw = await rawBackend((socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
      socket.end('until the end');
    });
    const r = await router();
    await r.update({ backends: [at('a-1', A, raw.port)], weights: { [A]: 100 } });
    for (let i = 0; i < 2; i++) {
      const reply = await call(r.url);
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), 'until the end');
    }
    assert.equal(raw.connections(), 2);
    assert.deepEqual(r.window(A, 0), {
      requests: 2,
      errors: 0,
      connectionFailures: 0,
      latenciesMs: r.window(A, 0).latenciesMs,
    });
  });

  test('router answers 502 BAD_BACKEND_RESPONSE to a malformed response and counts it as an error', async () => {
    const raw = await rawBackend((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nX-Evil: a\rb\r\nContent-Length: 0\r\n\r\n'),
    );
    const r = await router();
    await r.update({ backends: [at('a-1', A, raw.port)], weights: { [A]: 100 } });
    const reply = await call(r.url);
    assert.equal(reply.status, 502);
    assert.equal(JSON.parse(reply.body.toString()).error.code, 'BAD_BACKEND_RESPONSE');
    assert.equal(reply.headers['x-evil'], undefined);
    const w = r.window(A, 0);
    assert.equal(w.requests, 1);
    assert.equal(w.errors, 1);
    assert.equal(w.connectionFailures, 0);
    assert.equal(raw.connections(), 1, 'a malformed response is not retried');
  });

  test('router cuts the client short when the backend dies inside a response, and counts an error', async () => {
    const raw = await rawBackend((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part');
      setTimeout(() => socket.destroy(), 20);
    });
    const r = await router();
    await r.update({ backends: [at('a-1', A, raw.port)], weights: { [A]: 100 } });
    await assert.rejects(call(r.url), /aborted|socket hang up|ECONNRESET/);
    await sleep(20);
    const w = r.window(A, 0);
    assert.equal(w.requests, 1);
    assert.equal(w.errors, 1);
  });

  test('router answers 504 BACKEND_TIMEOUT when a backend stays silent, and closes idle connections', async () => {
    let closed = 0;
    const raw = await rawBackend((socket, head) => {
      socket.once('close', () => closed++);
      if (head.includes('/answer')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else if (head.includes('/stall')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart');
    });
    const r = await router({ upstreamTimeoutMs: 150 });
    await r.update({ backends: [at('a-1', A, raw.port)], weights: { [A]: 100 } });
    const started = performance.now();
    const reply = await call(r.url, { path: '/silent' });
    assert.equal(reply.status, 504);
    assert.equal(JSON.parse(reply.body.toString()).error.code, 'BACKEND_TIMEOUT');
    assert.ok(performance.now() - started >= 140, 'answered before the timeout');
    await assert.rejects(call(r.url, { path: '/stall' }), /aborted|socket hang up|ECONNRESET/);
    await sleep(20); // the router settles the request when its side of the client connection closes
    const w = r.window(A, 0);
    assert.equal(w.requests, 2);
    assert.equal(w.errors, 2);
    assert.equal(w.connectionFailures, 0, 'a silent backend is not retried');
    assert.equal((await call(r.url, { path: '/answer' })).status, 200);
    const before = closed;
    await sleep(400);
    assert.equal(closed, before + 1, 'the idle connection was closed');
  });

  test('router close() does not wait on a client that sent half a request', async () => {
    const b = await backend();
    const r = await router();
    await r.update({ backends: [at('a-1', A, b.port)], weights: { [A]: 100 } });
    const url = new URL(r.url);
    const stuck = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => stuck.once('connect', resolve));
    stuck.write('GET / HTTP/1.1\r\nHost: x\r\n'); // the head never ends
    stuck.on('error', () => undefined);
    const started = performance.now();
    await r.close();
    const took = performance.now() - started;
    stuck.destroy();
    assert.ok(took >= 4_000 && took < 8_000, `closed after ${took.toFixed(0)} ms`);
  });

  test('router does not send a request on a connection the backend is about to close', async () => {
    // Node announces `Keep-Alive: timeout=2`; the router stops using an idle connection 1 s before that.
    const b = await backend();
    b.server.keepAliveTimeout = 2_500;
    let connections = 0;
    b.server.on('connection', () => connections++);
    const r = await router();
    await r.update({ backends: [at('a-1', A, b.port)], weights: { [A]: 100 } });
    assert.equal((await call(r.url)).status, 200);
    assert.equal((await call(r.url)).status, 200);
    assert.equal(connections, 1);
    await sleep(1_100);
    assert.equal((await call(r.url)).status, 200);
    assert.equal(connections, 2);
    assert.equal(r.window(A, 0).connectionFailures, 0);
  });
});
