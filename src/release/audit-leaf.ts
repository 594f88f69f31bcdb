// How the audit report reads one ledger leaf: the common fields every leaf has, the few a compliance report
// needs (stage, policy and pipeline digests), and one human sentence. Tolerant: a leaf of a kind this code
// does not know is described generically, and bytes that are not a JSON object still get a row.

/** What one leaf says, as the report shows it; derived from the leaf bytes alone, so anyone can recompute it. */
export interface AuditFacts {
  event: string;
  actor: string;
  time: string;
  digests: string[];
  /** The digest the event is about, else its repository, else its stage. */
  subject: string;
  repository?: string;
  stage?: string;
  policyDigest?: string;
  pipelineDigest?: string;
  /** The pipeline version a promotion ran under, or a `pipeline.applied` leaf applied. */
  pipelineVersion?: string;
  /** One sentence for people. */
  detail: string;
}

/** Events that tell who built or signed a digest, or stopped it everywhere: shown for every promoted digest. */
export const PROVENANCE_EVENTS: ReadonlySet<string> = new Set([
  'manifest.push',
  'signature',
  'attestation',
  'veto',
  'veto.lifted',
]);

const TEXT_LIMIT = 300;
const COMMON = new Set(['event', 'actor', 'time', 'digests', 'apiVersion', 'kind', 'spec']);

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const scalar = (v: unknown): string | undefined =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
const clip = (s: string): string => (s.length > TEXT_LIMIT ? `${s.slice(0, TEXT_LIMIT)}…` : s);
const short = (s: string | undefined): string => (s === undefined ? '?' : s.length > 23 ? `${s.slice(0, 19)}…` : s);

/** Parses a leaf into an object, or null when its bytes are not one. */
export function parseLeaf(body: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The report's reading of one leaf; never throws. */
export function describeLeaf(body: Uint8Array): AuditFacts {
  const leaf = parseLeaf(body);
  if (leaf === null) {
    return { event: '(unreadable)', actor: '', time: '', digests: [], subject: '', detail: 'not a JSON object' };
  }
  const digests = Array.isArray(leaf.digests) ? leaf.digests.filter((d): d is string => typeof d === 'string') : [];
  const repository = str(leaf.repository) ?? str(leaf.repo);
  const stage = str(leaf.stage);
  const policyDigest = str(leaf.policyDigest);
  const pipelineDigest = str(leaf.pipelineDigest) ?? (leaf.event === 'pipeline.applied' ? digests[0] : undefined);
  const event = str(leaf.event) ?? '(no event)';
  const pipelineVersion = scalar(event === 'pipeline.applied' ? leaf.version : leaf.pipelineVersion);
  return {
    event,
    actor: str(leaf.actor) ?? '',
    time: str(leaf.time) ?? '',
    digests,
    subject: digests[0] ?? repository ?? (stage === undefined ? '' : `stage ${stage}`),
    ...(repository === undefined ? {} : { repository }),
    ...(stage === undefined ? {} : { stage }),
    ...(policyDigest === undefined ? {} : { policyDigest }),
    ...(pipelineDigest === undefined ? {} : { pipelineDigest }),
    ...(pipelineVersion === undefined ? {} : { pipelineVersion }),
    detail: clip(sentence(event, leaf, repository)),
  };
}

function sentence(event: string, leaf: Record<string, unknown>, repository: string | undefined): string {
  const s = (key: string) => str(leaf[key]);
  const digests = Array.isArray(leaf.digests) ? (leaf.digests as unknown[]) : [];
  const at = repository === undefined ? '' : ` in ${repository}`;
  const because = (key: string) => (s(key) ? `: ${s(key)}` : '');
  switch (event) {
    case 'manifest.push':
      return `pushed to ${repository ?? '?'}${s('tag') ? `:${s('tag')}` : ''}`;
    case 'manifest.delete':
      return `manifest deleted from ${repository ?? '?'}`;
    case 'blob.delete':
      return `blob deleted from ${repository ?? '?'}`;
    case 'tag.create':
      return `tag ${repository ?? '?'}:${s('tag') ?? '?'} created`;
    case 'tag.move':
      return `tag ${repository ?? '?'}:${s('tag') ?? '?'} moved${typeof digests[1] === 'string' ? ` from ${short(digests[1])}` : ''}`;
    case 'tag.delete':
      return `tag ${repository ?? '?'}:${s('tag') ?? '?'} deleted`;
    case 'signature':
      return `signed (${s('format') ?? 'signature'}) with key ${short(s('keyId'))}${at}`;
    case 'attestation':
      return `attested ${s('predicateType') ?? '?'} with key ${short(s('keyId'))}${at}`;
    case 'key.registered':
      return `registered ${s('role') ?? '?'} key ${s('name') ? `"${s('name')}" ` : ''}${short(s('keyId'))}`;
    case 'key.revoked':
      return `revoked key ${short(s('keyId'))}${because('reason')}`;
    case 'pipeline.applied':
      return `applied pipeline version ${scalar(leaf.version) ?? '?'}`;
    case 'promotion': {
      const vsa = s('vsa') ?? str((leaf.vsa as { digest?: unknown } | undefined)?.digest);
      return [
        `promoted${at} to ${s('stage') ?? '?'}`,
        s('trigger') ? ` (${s('trigger')})` : '',
        scalar(leaf.pipelineVersion) === undefined ? '' : ` under pipeline v${scalar(leaf.pipelineVersion)}`,
        `, policy ${short(s('policyDigest'))}`,
        vsa ? `, VSA ${short(vsa)}` : '',
      ].join('');
    }
    case 'approval':
      return `approved for ${s('stage') ?? '?'}${at}${because('comment')}`;
    case 'veto':
      return `vetoed everywhere${because('reason')}`;
    case 'veto.lifted':
      return `veto lifted${because('reason')}`;
    case 'hold':
      return `automatic promotion into ${s('stage') ?? '?'} held${because('reason')}`;
    case 'unhold':
      return `automatic promotion into ${s('stage') ?? '?'} resumed${because('reason')}`;
    case 'environment.applied':
      return `applied environment ${s('environment') ?? '?'} version ${scalar(leaf.version) ?? '?'} (stage ${s('stage') ?? '?'})`;
    case 'rollout.started':
      return `started a ${s('strategy') ?? ''} rollout of ${s('service') ?? '?'} in ${s('environment') ?? '?'}`;
    case 'rollout.rollback':
      return `rolled ${s('service') ?? '?'} in ${s('environment') ?? '?'} back${s('mode') ? ` (${s('mode')})` : ''}`;
    case 'rollout.pause':
    case 'rollout.resume':
    case 'rollout.abort':
    case 'rollout.promote':
      return `${event.slice('rollout.'.length)} the rollout of ${s('service') ?? '?'} in ${s('environment') ?? '?'}`;
    case 'deploy.drift':
      return `drift in ${s('environment') ?? '?'}/${s('service') ?? '?'}${s('instance') ? ` (${s('instance')})` : ''}: ${s('action') ?? '?'}`;
    case 'deploy.provisioning.refused':
      return `refused to create ${s('instance') ?? '?'} in ${s('environment') ?? '?'}: ${s('code') ?? '?'}`;
    default:
      if (event.startsWith('deploy.'))
        return `${event.slice('deploy.'.length)} ${s('result') ?? ''}${s('environment') ? ` in ${s('environment')}/${s('service') ?? '?'}` : ''}${s('detail') ? `: ${s('detail')}` : ''}`;
      return generic(leaf);
  }
}

// An unknown kind: its scalar fields, so nothing it says is hidden.
function generic(leaf: Record<string, unknown>): string {
  const parts = Object.entries(leaf)
    .filter(([k, v]) => !COMMON.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.length === 0 ? '(no details)' : parts.join(', ');
}
