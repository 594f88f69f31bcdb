import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { pinnedRelease } from './router-choice.ts';
import { requestHeaders } from './router-headers.ts';
import { SAMPLE_CONNECTION_FAILURE, SAMPLE_ERROR, SAMPLE_REQUEST } from './router-metrics.ts';
import type { BackendState, ReleaseRoute, RouterState } from './router-table.ts';
import { chooseTarget, errorBody, retryTarget } from './router-target.ts';
import { openTunnel, refuseUpgrade } from './router-tunnel.ts';

/**
 * Upgrade requests through the router: chosen, pinned and counted like any request, then tunnelled to the backend
 * (see router-tunnel.ts). A connection failure before the backend answered gets one more attempt elsewhere, as
 * for a request without a body.
 */

/** The HTTP server's `upgrade` listener for the router whose state is `state`. */
export function routeUpgrade(state: RouterState, req: IncomingMessage, client: Duplex, early: Buffer): void {
  const s = state.snapshot;
  const pinned = pinnedRelease(s.releases, req.headers);
  const choice = chooseTarget(state, s, req.headers, pinned);
  if ('code' in choice) refuseUpgrade(client, 503, errorBody(choice.code, choice.message));
  else tunnel(state, req, client, early, choice.route, choice.backend, pinned !== 'none', performance.now(), 1);
}

function tunnel(
  state: RouterState,
  req: IncomingMessage,
  client: Duplex,
  early: Buffer,
  route: ReleaseRoute,
  backend: BackendState,
  pinned: boolean,
  start: number,
  attempt: number,
): void {
  const forwarded = requestHeaders(req.rawHeaders, req.socket.remoteAddress ?? '');
  const fields = forwarded.headers;
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
  if (!forwarded.host) head += backend.hostLine;
  head += `connection: upgrade\r\nupgrade: ${req.headers.upgrade ?? ''}\r\n\r\n`;
  const { tunnels } = state;
  const t = openTunnel(client, backend.backend, head, early, state.upstreamTimeoutMs, {
    answered(status) {
      const failed = status >= 500 ? SAMPLE_ERROR : 0;
      route.recorder.record(++state.seq, status, performance.now() - start, SAMPLE_REQUEST | failed);
    },
    failed(kind, error) {
      tunnels.delete(t);
      if (kind === 'timeout') {
        route.recorder.record(++state.seq, 504, performance.now() - start, SAMPLE_REQUEST | SAMPLE_ERROR);
        const message = `Cannot get an answer from a backend of release ${route.digest}: ${error.message}`;
        return refuseUpgrade(client, 504, errorBody('BACKEND_TIMEOUT', message));
      }
      backend.failedAt = state.clock.now().getTime();
      route.recorder.record(++state.seq, 0, 0, SAMPLE_CONNECTION_FAILURE);
      if (client.destroyed) return;
      // As for a request without a body: one more attempt.
      const retry = attempt < 2 ? retryTarget(state, route, backend, pinned) : undefined;
      if (retry !== undefined)
        return tunnel(state, req, client, early, retry.route, retry.backend, pinned, start, attempt + 1);
      const message = `Cannot reach a backend of release ${route.digest}`;
      refuseUpgrade(client, 502, errorBody('BACKEND_UNREACHABLE', message));
    },
    closed() {
      tunnels.delete(t);
    },
  });
  tunnels.add(t);
}
