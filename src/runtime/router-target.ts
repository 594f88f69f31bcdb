import type { IncomingHttpHeaders } from 'node:http';
import type { RouterErrorCode } from './router.ts';
import { PIN_HEADER, pickBackend, pickRelease } from './router-choice.ts';
import type { BackendState, ReleaseRoute, RouterState, Snapshot } from './router-table.ts';

/**
 * Where a request goes, for requests and upgrades alike: the release and backend chosen for a new one (or why it
 * can go nowhere, answered 503 with `errorBody`), and where it goes again after a connection failure.
 */

/** A release chosen for a request, and the backend of it. */
export interface Target {
  readonly route: ReleaseRoute;
  readonly backend: BackendState;
}

/** The JSON body of the router's own error responses. */
export const errorBody = (code: RouterErrorCode, message: string): string =>
  JSON.stringify({ error: { code, message } });

/** Where a new request goes, by its pin or by weight; or why it cannot go anywhere (a 503). */
export function chooseTarget(
  state: RouterState,
  s: Snapshot,
  headers: IncomingHttpHeaders,
  pinned: ReleaseRoute | 'none' | undefined,
): Target | { code: RouterErrorCode; message: string } {
  if (pinned === undefined) {
    const pin = headers[PIN_HEADER] ?? 'the fixity-release cookie';
    return {
      code: 'PINNED_RELEASE_UNAVAILABLE',
      message: `Cannot route to pinned release ${pin}: it has no backend`,
    };
  }
  const route = pinned === 'none' ? pickRelease(s, undefined, state.random) : pinned;
  const backend = route && pickBackend(route, undefined, state.clock);
  if (route === undefined || backend === undefined) {
    return {
      code: 'NO_BACKEND',
      message: `Cannot route request: service ${state.service} in ${state.environment} has no backend`,
    };
  }
  return { route, backend };
}

/**
 * Where to try again after a connection to `backend` failed, on the current table (it may have changed):
 * another backend of the same release, else (unless pinned) another release.
 */
export function retryTarget(
  state: RouterState,
  route: ReleaseRoute,
  backend: BackendState,
  pinned: boolean,
): Target | undefined {
  const { snapshot, clock } = state;
  const current = snapshot.releases.get(route.digest);
  const sameRelease = current && pickBackend(current, backend, clock);
  const next = sameRelease ? current : pinned ? undefined : pickRelease(snapshot, current, state.random);
  const nextBackend = sameRelease ?? (next && pickBackend(next, undefined, clock));
  return next === undefined || nextBackend === undefined ? undefined : { route: next, backend: nextBackend };
}
