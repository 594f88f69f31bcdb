import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../core/index.ts';

/**
 * How the router chooses where a request goes: a release by weight (or by the client's pin), then one of its
 * backends round-robin. Pure functions over the router's current snapshot, so the draw is testable with a seeded
 * random source.
 */

/** A backend whose connection failed is skipped (while its release has another) for this long. */
const FAILURE_BACKOFF_MS = 1_000;
export const PIN_HEADER = 'x-fixity-release';
const PIN_COOKIE = 'fixity-release=';

export interface Choosable {
  readonly digest: string;
}

export interface Choices<R> {
  readonly releases: ReadonlyMap<string, R>;
  /** Releases with traffic weight and at least one backend, with cumulative weights for the draw. */
  readonly choices: readonly R[];
  readonly cumulative: readonly number[];
}

/** A weighted draw among the releases with traffic; `exclude` (a release that just failed) is drawn around. */
export function pickRelease<R extends Choosable>(
  s: Choices<R>,
  exclude: R | undefined,
  random: () => number,
): R | undefined {
  const { choices, cumulative } = s;
  if (choices.length === 0) return undefined;
  if (exclude === undefined) {
    const draw = random() * (cumulative[cumulative.length - 1] ?? 0);
    for (let i = 0; i < choices.length; i++) if (draw < (cumulative[i] ?? 0)) return choices[i];
    return choices[choices.length - 1];
  }
  let total = 0;
  for (let i = 0; i < choices.length; i++) {
    if (choices[i] !== exclude) total += (cumulative[i] ?? 0) - (cumulative[i - 1] ?? 0);
  }
  let draw = random() * total;
  for (let i = 0; i < choices.length; i++) {
    if (choices[i] === exclude) continue;
    draw -= (cumulative[i] ?? 0) - (cumulative[i - 1] ?? 0);
    if (draw < 0) return choices[i];
  }
  // Only the excluded release carries weight: a retry may still go to one without (better than a 502).
  for (const route of s.releases.values()) if (route.digest !== exclude.digest) return route;
  return undefined;
}

/** Round-robin over the release's backends, passing over recently failed ones while another remains. */
export function pickBackend<B extends { failedAt: number }>(
  route: { readonly backends: readonly B[]; rr: number },
  exclude: B | undefined,
  clock: Clock,
): B | undefined {
  const list = route.backends;
  const n = list.length;
  let fallback: B | undefined;
  for (let i = 0; i < n; i++) {
    const b = list[route.rr] as B;
    route.rr = route.rr + 1 >= n ? 0 : route.rr + 1;
    if (b === exclude) continue;
    if (b.failedAt === 0) return b;
    if (clock.now().getTime() - b.failedAt >= FAILURE_BACKOFF_MS) {
      b.failedAt = 0;
      return b;
    }
    fallback ??= b;
  }
  return fallback;
}

/**
 * The release a request is pinned to by the `x-fixity-release` header or the `fixity-release` cookie (a digest or
 * a hex prefix of 12 or more): 'none' without a pin, undefined when the pin names no routed release.
 */
export function pinnedRelease<R extends Choosable>(
  releases: ReadonlyMap<string, R>,
  headers: IncomingHttpHeaders,
): R | 'none' | undefined {
  let pin = headers[PIN_HEADER];
  if (Array.isArray(pin)) pin = pin[0];
  if (pin === undefined) {
    const cookie = headers.cookie;
    if (cookie === undefined) return 'none';
    const at = cookie.indexOf(PIN_COOKIE);
    if (at === -1 || (at > 0 && cookie[at - 1] !== ' ' && cookie[at - 1] !== ';')) return 'none';
    const end = cookie.indexOf(';', at);
    pin = cookie.slice(at + PIN_COOKIE.length, end === -1 ? undefined : end);
  }
  pin = pin.trim().toLowerCase();
  const exact = releases.get(pin);
  if (exact !== undefined) return exact;
  const hex = pin.startsWith('sha256:') ? pin.slice(7) : pin;
  if (hex.length < 12) return undefined;
  for (const route of releases.values()) {
    if (route.digest.slice(route.digest.indexOf(':') + 1).startsWith(hex)) return route;
  }
  return undefined;
}
