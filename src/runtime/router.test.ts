import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { A, at, B, backend, call, deadPort, router } from './router-kit.ts';

describe('createRouter()', () => {
  test('createRouter() splits traffic by weight across releases', async () => {
    const [a, b] = [await backend(), await backend()];
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port), at('b-1', B, b.port)], weights: { [A]: 80, [B]: 20 } });
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const reply = await call(r.url);
      assert.equal(reply.status, 200);
      const release = String(reply.headers['x-fixity-release']);
      counts.set(release, (counts.get(release) ?? 0) + 1);
    }
    const toA = counts.get(A) ?? 0;
    assert.ok(toA > 1500 && toA < 1700, `expected about 1600 requests to A, got ${toA}`);
    assert.equal(toA + (counts.get(B) ?? 0), 2000);
  });

  test('createRouter() round-robins among the backends of one release', async () => {
    const seen: string[] = [];
    const named = (name: string) =>
      backend((_req, res) => {
        seen.push(name);
        res.end(name);
      });
    const [a1, a2] = [await named('a1'), await named('a2')];
    const r = await router();
    await r.update({ backends: [at('a-1', A, a1.port), at('a-2', A, a2.port)], weights: { [A]: 100 } });
    for (let i = 0; i < 6; i++) await call(r.url);
    assert.deepEqual(seen, ['a1', 'a2', 'a1', 'a2', 'a1', 'a2']);
  });

  test('createRouter() pins a request to a release by header, prefix or cookie', async () => {
    const [a, b] = [await backend(), await backend()];
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port), at('b-1', B, b.port)], weights: { [A]: 100, [B]: 0 } });
    const pins = [
      { 'x-fixity-release': B },
      { 'x-fixity-release': B.slice(7, 19) },
      { cookie: `theme=dark; fixity-release=${B.slice(7, 19)}; x=1` },
    ];
    for (const headers of pins) {
      for (let i = 0; i < 5; i++) {
        const reply = await call(r.url, { headers });
        assert.equal(reply.headers['x-fixity-release'], B, JSON.stringify(headers));
      }
    }
    assert.equal((await call(r.url)).headers['x-fixity-release'], A);
  });

  test('createRouter() answers 503 when a pinned release has no backend', async () => {
    const a = await backend();
    const r = await router();
    await r.update({ backends: [at('a-1', A, a.port)], weights: { [A]: 100 } });
    const reply = await call(r.url, { headers: { 'x-fixity-release': B } });
    assert.equal(reply.status, 503);
    assert.equal(JSON.parse(reply.body.toString()).error.code, 'PINNED_RELEASE_UNAVAILABLE');
  });

  test('createRouter() answers 503 NO_BACKEND when the table is empty', async () => {
    const r = await router();
    const reply = await call(r.url);
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['content-type'], 'application/json');
    const body = JSON.parse(reply.body.toString());
    assert.equal(body.error.code, 'NO_BACKEND');
    assert.match(body.error.message, /^Cannot route request: /);
  });

  test('createRouter() counts 5xx responses as errors of the release that served them', async () => {
    const a = await backend();
    const b = await backend((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const registry = new Registry();
    const r = await router({ registry });
    await r.update({ backends: [at('a-1', A, a.port), at('b-1', B, b.port)], weights: { [A]: 50, [B]: 50 } });
    const since = r.mark();
    for (let i = 0; i < 7; i++) await call(r.url, { headers: { 'x-fixity-release': B } });
    for (let i = 0; i < 3; i++) await call(r.url, { headers: { 'x-fixity-release': A } });
    const wb = r.window(B, since);
    assert.equal(wb.requests, 7);
    assert.equal(wb.errors, 7);
    assert.equal(wb.latenciesMs.length, 7);
    assert.ok(wb.latenciesMs.every((ms) => ms > 0 && ms < 1000));
    const wa = r.window(A, since);
    assert.deepEqual([wa.requests, wa.errors, wa.connectionFailures], [3, 0, 0]);
    assert.equal(r.window(B, r.mark()).requests, 0);
    const text = await registry.metrics();
    const labels = `environment="staging",service="web",release="${B}"`;
    assert.match(text, new RegExp(`fixity_router_requests_total\\{${labels},code="500"\\} 7`));
    assert.match(text, new RegExp(`fixity_router_request_duration_seconds_count\\{${labels}\\} 7`));
    assert.match(
      text,
      new RegExp(`fixity_router_requests_total\\{environment="staging",service="web",release="${A}",code="200"\\} 3`),
    );
  });

  test('createRouter() shares one registry between routers of several services', async () => {
    const registry = new Registry();
    const a = await backend();
    const web = await router({ registry });
    const api = await router({ registry, service: 'api' });
    await web.update({ backends: [at('a-1', A, a.port)], weights: { [A]: 100 } });
    await api.update({ backends: [at('a-2', A, a.port)], weights: { [A]: 100 } });
    await call(web.url);
    await call(api.url);
    const text = await registry.metrics();
    assert.match(text, /service="web",release="[^"]+",code="200"\} 1/);
    assert.match(text, /service="api",release="[^"]+",code="200"\} 1/);
  });

  test('createRouter() retries a GET on another backend when a connection fails', async () => {
    const alive = await backend();
    const dead = await deadPort();
    const registry = new Registry();
    const r = await router({ registry });
    await r.update({ backends: [at('a-dead', A, dead), at('a-live', A, alive.port)], weights: { [A]: 100 } });
    const since = r.mark();
    for (let i = 0; i < 10; i++) assert.equal((await call(r.url)).status, 200);
    const w = r.window(A, since);
    assert.equal(w.requests, 10);
    assert.equal(w.errors, 0);
    assert.ok(w.connectionFailures >= 1, `connection failures: ${w.connectionFailures}`);
    assert.match(await registry.metrics(), /fixity_router_connection_failures_total\{[^}]*\} [1-9]/);
  });

  test('createRouter() retries a GET on another release when the chosen one is unreachable', async () => {
    const b = await backend();
    const r = await router();
    await r.update({ backends: [at('a-dead', A, await deadPort()), at('b-1', B, b.port)], weights: { [A]: 100 } });
    const since = r.mark();
    const reply = await call(r.url);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-fixity-release'], B);
    assert.equal(r.window(A, since).connectionFailures, 1);
  });

  test('createRouter() answers 502 and counts an error when no backend can be reached', async () => {
    const r = await router();
    await r.update({ backends: [at('a-dead', A, await deadPort())], weights: { [A]: 100 } });
    const since = r.mark();
    const get = await call(r.url);
    assert.equal(get.status, 502);
    assert.equal(JSON.parse(get.body.toString()).error.code, 'BACKEND_UNREACHABLE');
    const post = await call(r.url, { method: 'POST', body: Buffer.from('x') });
    assert.equal(post.status, 502);
    const w = r.window(A, since);
    assert.deepEqual([w.requests, w.errors, w.connectionFailures], [2, 2, 2]);
  });

  test('createRouter() update() waits for in-flight requests on removed backends', async () => {
    const events: string[] = [];
    const slow = await backend((_req, res) => {
      setTimeout(() => {
        events.push('backend answered');
        res.end('slow done');
      }, 500);
    });
    const b = await backend();
    const r = await router();
    await r.update({ backends: [at('a-1', A, slow.port)], weights: { [A]: 100 } });
    const inFlight = call(r.url);
    await sleep(100);
    const started = performance.now();
    await r.update({ backends: [at('b-1', B, b.port)], weights: { [B]: 100 } });
    events.push('updated');
    assert.ok(performance.now() - started >= 300, 'update() returned before the slow request finished');
    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'slow done');
    assert.deepEqual(events, ['backend answered', 'updated']);
    assert.equal((await call(r.url)).headers['x-fixity-release'], B);
    assert.deepEqual(r.table().weights, { [B]: 100 });
  });

  test('createRouter() update() gives up waiting after drainTimeoutMs', async () => {
    const hang = await backend(() => {});
    const r = await router({ drainTimeoutMs: 100 });
    await r.update({ backends: [at('a-1', A, hang.port)], weights: { [A]: 100 } });
    const pending = call(r.url).catch(() => undefined);
    await sleep(50);
    const started = performance.now();
    await r.update({ backends: [], weights: {} });
    assert.ok(performance.now() - started < 1000);
    await hang.close();
    await pending;
  });

  test('createRouter() loses no request while weights shift and old backends go away', async () => {
    const olds = [await backend(), await backend()];
    const news = [await backend(), await backend()];
    const r = await router({ random: Math.random });
    const oldBackends = olds.map((o, i) => at(`a-${i}`, A, o.port));
    const newBackends = news.map((n, i) => at(`b-${i}`, B, n.port));
    await r.update({ backends: [...oldBackends, ...newBackends], weights: { [A]: 100, [B]: 0 } });
    let stop = false;
    const failures: string[] = [];
    const served = new Map<string, number>();
    const client = async (): Promise<void> => {
      while (!stop) {
        try {
          const reply = await call(r.url);
          if (reply.status !== 200) failures.push(`status ${reply.status}`);
          const release = String(reply.headers['x-fixity-release']);
          served.set(release, (served.get(release) ?? 0) + 1);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await sleep(200);
    await r.update({ backends: [...oldBackends, ...newBackends], weights: { [A]: 50, [B]: 50 } });
    await sleep(200);
    await r.update({ backends: [...oldBackends, ...newBackends], weights: { [A]: 0, [B]: 100 } });
    await sleep(100);
    await r.update({ backends: newBackends, weights: { [B]: 100 } });
    for (const o of olds) await o.close();
    await sleep(200);
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(failures, []);
    assert.ok((served.get(A) ?? 0) > 50 && (served.get(B) ?? 0) > 50, JSON.stringify([...served]));
  });

  test('createRouter() streams a 1 MiB request body to the backend and the response back', async () => {
    const echo = await backend((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    const r = await router();
    await r.update({ backends: [at('a-1', A, echo.port)], weights: { [A]: 100 } });
    const body = randomBytes(1024 * 1024);
    const reply = await call(r.url, { method: 'POST', path: '/echo', body });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.length, body.length);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(sha(reply.body), sha(body));
  });

  test('createRouter() strips hop-by-hop headers and sets x-forwarded-*', async () => {
    const mirror = await backend((req, res) => {
      res.setHeader('connection', 'keep-alive, x-secret');
      res.setHeader('x-secret', 'hop');
      res.setHeader('x-kept', 'yes');
      res.end(JSON.stringify(req.headers));
    });
    const r = await router();
    await r.update({ backends: [at('a-1', A, mirror.port)], weights: { [A]: 100 } });
    const reply = await call(r.url, {
      path: '/p?q=1',
      headers: { 'proxy-authorization': 'x', te: 'trailers', 'x-forwarded-for': '10.0.0.1', 'x-app': 'kept' },
    });
    const seen = JSON.parse(reply.body.toString()) as Record<string, string>;
    assert.equal(seen['proxy-authorization'], undefined);
    assert.equal(seen.te, undefined);
    assert.equal(seen['x-app'], 'kept');
    assert.equal(seen['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], new URL(r.url).host);
    assert.equal(reply.headers['x-secret'], undefined);
    assert.equal(reply.headers['x-kept'], 'yes');
  });

  test('createRouter() reuses a backend connection and replaces one the backend closed', async () => {
    let connections = 0;
    const b = await backend();
    b.server.on('connection', () => connections++);
    const r = await router();
    await r.update({ backends: [at('a-1', A, b.port)], weights: { [A]: 100 } });
    for (let i = 0; i < 3; i++) assert.equal((await call(r.url)).status, 200);
    assert.equal(connections, 1);
    b.server.closeIdleConnections();
    await sleep(20);
    assert.equal((await call(r.url)).status, 200);
    assert.equal(connections, 2);
    assert.equal(r.window(A, 0).connectionFailures, 0);
  });

  test('createRouter() keeps no connection a backend announces it will close within a second', async () => {
    let connections = 0;
    const b = await backend();
    b.server.keepAliveTimeout = 1_000;
    b.server.on('connection', () => connections++);
    const r = await router();
    await r.update({ backends: [at('a-1', A, b.port)], weights: { [A]: 100 } });
    for (let i = 0; i < 3; i++) assert.equal((await call(r.url)).status, 200);
    assert.equal(connections, 3);
  });

  test('createRouter() drops request fields the Connection header lists and keeps the first Host', async () => {
    const mirror = await backend((req, res) => res.end(JSON.stringify({ headers: req.headers, raw: req.rawHeaders })));
    const r = await router();
    await r.update({ backends: [at('a-1', A, mirror.port)], weights: { [A]: 100 } });
    const reply = await call(r.url, {
      headers: { Connection: 'keep-alive, X-Private', 'X-Private': 'no', 'X-App': 'yes' },
    });
    const seen = JSON.parse(reply.body.toString()) as { headers: Record<string, string>; raw: string[] };
    assert.equal(seen.headers['x-private'], undefined);
    assert.equal(seen.headers['x-app'], 'yes');
    assert.equal(seen.raw.filter((name) => name.toLowerCase() === 'host').length, 1);
    assert.equal(reply.headers['x-fixity-release'], A);
  });
});
