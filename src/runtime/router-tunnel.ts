import { STATUS_CODES } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Protocol upgrades through the router (WebSocket, or any `Upgrade`, RFC 9110 §7.8): the request goes to one
 * backend on a connection of its own, never pooled, and from then on the bytes flow both ways untouched until
 * either side closes. The backend's answer is not rewritten (no `x-fixity-release` on a 101): after it, the
 * connection is no longer HTTP.
 */

export type TunnelFailure = 'connect' | 'timeout';

export interface TunnelEvents {
  /** The backend's status line arrived (101 when it switched protocols). */
  answered(status: number): void;
  /**
   * No response came: the backend could not be reached, or stayed silent for the timeout. Nothing was written to
   * the client, which is still open for an error response or another attempt. Last call: `closed` does not follow.
   */
  failed(kind: TunnelFailure, error: Error): void;
  /** Both connections are closed; called once, last. */
  closed(): void;
}

export interface Tunnel {
  /** Cuts both connections (`closed` follows, unless the tunnel had ended already). */
  destroy(): void;
}

export interface TunnelTarget {
  readonly host: string;
  readonly port: number;
}

/** Longest status line looked for in the backend's first bytes. */
const STATUS_LINE_MAX = 256;
/**
 * How long a tunnel stays half-closed (one side sent its FIN, passed on to the other) before both are cut, as
 * HAProxy's `timeout client-fin`: a peer that never closes its side must not hold the tunnel open for ever.
 */
export const HALF_CLOSED_MS = 10_000;

/**
 * Connects to `target`, sends `head` (the request's head, already rewritten) and `early` (bytes the client sent
 * after its head), then joins the two connections. `timeoutMs` bounds the wait for the backend's first byte.
 */
export function openTunnel(
  client: Duplex,
  target: TunnelTarget,
  head: string,
  early: Buffer,
  timeoutMs: number,
  events: TunnelEvents,
  halfClosedMs = HALF_CLOSED_MS,
): Tunnel {
  const upstream: Socket = connect({ host: target.host, port: target.port, noDelay: true });
  let joined = false;
  let done = false;
  let sniffed: Buffer = Buffer.alloc(0);

  const fail = (kind: TunnelFailure, error: Error): void => {
    if (done) return;
    done = true;
    client.unpipe(upstream);
    upstream.destroy();
    events.failed(kind, error);
  };
  const sniff = (chunk: Buffer): void => {
    sniffed = sniffed.length === 0 ? chunk : Buffer.concat([sniffed, chunk]);
    const eol = sniffed.indexOf('\r\n');
    if (eol === -1 && sniffed.length < STATUS_LINE_MAX) return;
    upstream.off('data', sniff);
    upstream.setTimeout(0);
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(sniffed.toString('latin1', 0, Math.min(eol, STATUS_LINE_MAX)));
    events.answered(match === null ? 502 : Number(match[1]));
  };
  let finTimer: NodeJS.Timeout | undefined;
  const onClose = (): void => {
    clearTimeout(finTimer);
    if (done) return;
    // One side closed (or the client went away before the backend answered): the other goes too.
    done = true;
    client.destroy();
    upstream.destroy();
    events.closed();
  };
  client.once('close', onClose);
  // Errors end in 'close' on the same stream; the listeners only keep them from being thrown.
  client.on('error', () => {});

  upstream.setTimeout(timeoutMs);
  upstream.once('timeout', () => {
    if (!joined) return fail('connect', new Error(`no connection within ${timeoutMs} ms`));
    fail('timeout', new Error(`no answer within ${timeoutMs} ms`));
  });
  upstream.on('error', (error: Error) => {
    if (!joined) fail('connect', error);
  });
  upstream.once('connect', () => {
    joined = true;
    upstream.write(head);
    if (early.length > 0) upstream.write(early);
    upstream.on('data', sniff);
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.once('close', onClose);
    // A FIN is passed on by pipe(); the other side then has halfClosedMs to close its own.
    const onEnd = (): void => {
      finTimer ??= setTimeout(onClose, halfClosedMs).unref();
    };
    client.once('end', onEnd);
    upstream.once('end', onEnd);
  });

  return { destroy: onClose };
}

/** Answers an upgrade request on its raw connection with a JSON error, and closes it. */
export function refuseUpgrade(client: Duplex, status: number, body: string): void {
  if (client.destroyed) return;
  client.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
