import { canonicalBytes, isDigest } from '../core/index.ts';
import type { EventRecord } from '../store/index.ts';

/**
 * The leaf for one registry event: canonical JSON with the event kind, actor, time and the digests it
 * concerns (the manifest, and the one a tag pointed at before), plus where it happened and its sequence number.
 */
export function eventLeaf(event: EventRecord): { body: Uint8Array; digests: string[] } {
  const digests = [event.digest, event.previous].filter((d): d is string => typeof d === 'string' && isDigest(d));
  const detail = detailOf(event.body);
  const leaf = {
    event: event.kind,
    actor: event.actor,
    time: event.at,
    digests,
    seq: event.seq,
    ...(event.repo === null ? {} : { repo: event.repo }),
    ...(event.tag === null ? {} : { tag: event.tag }),
    ...(detail === undefined ? {} : { detail }),
  };
  return { body: canonicalBytes(leaf), digests };
}

// The event body is the store's canonical JSON of the row plus its optional `detail` object.
function detailOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { detail?: unknown }).detail;
  } catch {
    return undefined;
  }
}
