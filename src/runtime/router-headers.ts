/**
 * Header rewriting for the traffic router, straight from `rawHeaders` to the flat `[name, value, …]` arrays that
 * `http.request` and `writeHead` take as they are: no header object is built or copied on the way. Names go out
 * lower-cased and a repeated field keeps Node's first-wins rule where Node has one (RFC 9110 §5.3 lets the others
 * repeat as lines instead of being joined).
 */

/** Kinds of field in `FIELDS`; fields Node keeps the first of map to their bit in a per-message seen mask instead. */
const HOP_BY_HOP = -1;
const FORWARDED = -2;

const FIELDS = new Map<string, number>();
// RFC 9110 §7.6.1 hop-by-hop fields, plus the de-facto ones; never forwarded in either direction.
for (const name of [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]) {
  FIELDS.set(name, HOP_BY_HOP);
}
// Set by the router on the way in, whatever the client sent.
for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']) FIELDS.set(name, FORWARDED);
// Node keeps the first of these when repeated (`matchKnownFields` in lib/_http_incoming.js).
[
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'referer',
  'retry-after',
  'server',
  'user-agent',
].forEach((name, i) => {
  FIELDS.set(name, 1 << i);
});

export interface ForwardedRequestHeaders {
  readonly headers: string[];
  /** Whether `headers` has a `host` field; without one the caller adds the backend's. */
  readonly host: boolean;
}

/** The client's headers minus hop-by-hop ones, plus the x-forwarded-* trio (`client` is its address). */
export function requestHeaders(raw: readonly string[], client: string): ForwardedRequestHeaders {
  let out: string[] = [];
  let seen = 0;
  let connection: string | undefined;
  let forwardedFor: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const kind = FIELDS.get(name);
    if (kind !== undefined) {
      if (kind === HOP_BY_HOP) {
        if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
        continue;
      }
      if (kind === FORWARDED) {
        if (name === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      }
      if ((seen & kind) !== 0) continue;
      seen |= kind;
      if (name === 'host') host = value;
    }
    out.push(name, value);
  }
  let hasHost = host !== undefined;
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') {
    out = dropListed(out, connection);
    hasHost &&= out.some((field, i) => i % 2 === 0 && field === 'host');
  }
  out.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  out.push('x-forwarded-proto', 'http');
  if (host !== undefined) out.push('x-forwarded-host', host);
  return { headers: out, host: hasHost };
}

/** The backend's headers minus hop-by-hop ones, plus `x-fixity-release: release`. */
export function responseHeaders(raw: readonly string[], release: string): string[] {
  let out: string[] = [];
  let seen = 0;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const kind = FIELDS.get(name);
    if (kind !== undefined && kind !== FORWARDED) {
      if (kind === HOP_BY_HOP) {
        if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
        continue;
      }
      if ((seen & kind) !== 0) continue;
      seen |= kind;
    }
    if (name === 'x-fixity-release') continue;
    out.push(name, value);
  }
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') {
    out = dropListed(out, connection);
  }
  out.push('x-fixity-release', release);
  return out;
}

/** The fields a `Connection` header lists (RFC 9110 §7.6.1) removed; rare, so it may allocate. */
function dropListed(headers: string[], connection: string): string[] {
  const listed = new Set(
    connection
      .toLowerCase()
      .split(',')
      .map((token) => token.trim()),
  );
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!listed.has(name)) out.push(name, headers[i + 1] as string);
  }
  return out;
}
