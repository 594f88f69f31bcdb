import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouterErrorCode } from './router.ts';
import { pinnedRelease } from './router-choice.ts';
import { requestHeaders, responseHeaders } from './router-headers.ts';
import { SAMPLE_CONNECTION_FAILURE, SAMPLE_ERROR, SAMPLE_REQUEST } from './router-metrics.ts';
import { type BackendState, type ReleaseRoute, type RouterState, releaseBackend } from './router-table.ts';
import { chooseTarget, errorBody, retryTarget } from './router-target.ts';
import type { RequestBody, UpstreamConnection, UpstreamFailure, UpstreamSink } from './router-upstream.ts';

/**
 * Plain HTTP requests through the router: each goes to a backend of the release chosen for it on a pooled
 * connection, its body and the response streamed through with backpressure both ways. A request without a body
 * whose connection failed before any response byte is tried once more; every request is counted against its
 * release when the client's response closes.
 */

/** Per-request bookkeeping shared by the attempts of one request. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly start: number;
  readonly body: RequestBody;
  readonly retryable: boolean;
  readonly pinned: boolean;
  backend: BackendState | undefined;
  upstream: UpstreamConnection<Exchange> | undefined;
  /** The release the request is counted against, once one was chosen. */
  release: ReleaseRoute | undefined;
  status: number;
  upstreamBroken: boolean;
  attempts: number;
  /** The request line and forwarded fields, built on the first attempt and reused by a retry. */
  head: string | undefined;
  /** Whether `head` has a `Host` field; without one each attempt adds its backend's. */
  hasHost: boolean;
}

/** One router's request path: the HTTP server's request listener, and the sink of its backends' pools. */
export interface RouterProxy {
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  readonly sink: UpstreamSink<Exchange>;
}

// Per-request state rides on Node's own objects so that no closure is allocated per request.
const EXCHANGE = Symbol('exchange');
interface ExchangeCarrier extends ServerResponse {
  [EXCHANGE]?: Exchange;
}
interface BodyCarrier extends IncomingMessage {
  [EXCHANGE]?: Exchange;
}

/** The request path of the router whose state is `state`; its functions are made once, per router. */
export function createRouterProxy(state: RouterState): RouterProxy {
  function handle(req: IncomingMessage, res: ServerResponse): void {
    const s = state.snapshot;
    const method = req.method ?? 'GET';
    const headers = req.headers;
    // The client's framing is hop-by-hop: a chunked body goes on chunked, a sized one with its Content-Length.
    const body: RequestBody =
      headers['transfer-encoding'] !== undefined
        ? 'chunked'
        : (headers['content-length'] ?? '0') !== '0'
          ? 'length'
          : 'none';
    const pinned = pinnedRelease(s.releases, headers);
    const ex: Exchange = {
      req,
      res,
      start: performance.now(),
      body,
      retryable: body === 'none' && (method === 'GET' || method === 'HEAD' || method === 'OPTIONS'),
      pinned: pinned !== 'none',
      backend: undefined,
      upstream: undefined,
      release: undefined,
      status: 0,
      upstreamBroken: false,
      attempts: 0,
      head: undefined,
      hasHost: false,
    };
    (res as ExchangeCarrier)[EXCHANGE] = ex;
    res.once('close', onClientClose);
    const choice = chooseTarget(state, s, headers, pinned);
    if ('code' in choice) sendError(ex, 503, choice.code, choice.message);
    else forward(ex, choice.route, choice.backend);
  }

  function onClientClose(this: ServerResponse): void {
    settle(state, (this as ExchangeCarrier)[EXCHANGE] as Exchange);
  }

  const sink: UpstreamSink<Exchange> = {
    head(ex, status, raw) {
      ex.status = status;
      ex.res.writeHead(status, responseHeaders(raw, (ex.release as ReleaseRoute).digest));
    },
    data(ex, chunk) {
      if (!ex.res.write(chunk)) {
        ex.upstream?.pause();
        ex.res.once('drain', onClientDrain);
      }
    },
    end(ex) {
      ex.upstream = undefined;
      ex.res.end();
    },
    fail(ex, kind, error) {
      onUpstreamFailure(state, ex, kind, error);
    },
    drain(ex) {
      ex.req.resume();
    },
  };

  return { handle, sink };
}

function forward(ex: Exchange, route: ReleaseRoute, backend: BackendState): void {
  const { req } = ex;
  ex.attempts++;
  ex.release = route;
  ex.backend = backend;
  backend.inFlight++;
  if (ex.head === undefined) {
    const forwarded = requestHeaders(req.rawHeaders, req.socket.remoteAddress ?? '');
    const fields = forwarded.headers;
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
    if (ex.body === 'chunked') head += 'transfer-encoding: chunked\r\n';
    ex.head = head;
    ex.hasHost = forwarded.host;
  }
  const head = ex.hasHost ? `${ex.head}\r\n` : `${ex.head}${backend.hostLine}\r\n`;
  ex.upstream = backend.pool.request(ex, head, req.method === 'HEAD', ex.body);
  // Only requests without a body are retried, so a body is read once, by the first attempt.
  if (ex.body !== 'none') {
    (req as BodyCarrier)[EXCHANGE] = ex;
    req.on('data', onRequestData);
    req.once('end', onRequestEnd);
  }
}

function onRequestData(this: BodyCarrier, chunk: Buffer): void {
  const upstream = this[EXCHANGE]?.upstream;
  if (upstream !== undefined && !upstream.writeBody(chunk)) this.pause();
}

function onRequestEnd(this: BodyCarrier): void {
  this[EXCHANGE]?.upstream?.endBody();
}

function onClientDrain(this: ServerResponse): void {
  (this as ExchangeCarrier)[EXCHANGE]?.upstream?.resume();
}

function onUpstreamFailure(state: RouterState, ex: Exchange, kind: UpstreamFailure, error: Error): void {
  const route = ex.release as ReleaseRoute;
  const backend = ex.backend as BackendState;
  const res = ex.res;
  ex.upstream = undefined;
  if (ex.status !== 0) {
    // The response had begun: the client sees it cut short.
    ex.upstreamBroken = true;
    res.destroy();
    return;
  }
  if (kind !== 'connect') {
    // The backend may have acted on the request: neither a silent nor a garbled answer is retried.
    const [status, code, what] =
      kind === 'timeout'
        ? ([504, 'BACKEND_TIMEOUT', 'get an answer from'] as const)
        : ([502, 'BAD_BACKEND_RESPONSE', 'read the response of'] as const);
    sendError(ex, status, code, `Cannot ${what} a backend of release ${route.digest}: ${error.message}`);
    return;
  }
  // No response byte arrived: a connection failure, counted against the release that was tried.
  ex.backend = undefined;
  releaseBackend(backend);
  backend.failedAt = state.clock.now().getTime();
  route.recorder.record(++state.seq, 0, 0, SAMPLE_CONNECTION_FAILURE);
  if (res.destroyed) return;
  const retry = ex.retryable && ex.attempts < 2 ? retryTarget(state, route, backend, ex.pinned) : undefined;
  if (retry !== undefined) {
    forward(ex, retry.route, retry.backend);
    return;
  }
  sendError(ex, 502, 'BACKEND_UNREACHABLE', `Cannot reach a backend of release ${route.digest}`);
}

function sendError(ex: Exchange, status: number, code: RouterErrorCode, message: string): void {
  ex.status = status;
  const body = errorBody(code, message);
  ex.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  ex.res.end(body);
}

/** Accounts for a finished (or abandoned) request exactly once, when the client response closes. */
function settle(state: RouterState, ex: Exchange): void {
  const latencyMs = performance.now() - ex.start;
  const upstream = ex.upstream;
  ex.upstream = undefined;
  // Still set only when the client went away before the response was complete.
  upstream?.abort();
  if (ex.backend !== undefined) releaseBackend(ex.backend);
  if (ex.release === undefined) return;
  // A client that went away before the answer is not the release's fault (nginx's 499).
  const status = ex.status === 0 ? 499 : ex.status;
  const failed = status >= 500 || ex.upstreamBroken;
  ex.release.recorder.record(++state.seq, status, latencyMs, SAMPLE_REQUEST | (failed ? SAMPLE_ERROR : 0));
}
