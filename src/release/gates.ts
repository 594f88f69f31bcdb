import { actorPrincipal, type Digest } from '../core/index.ts';
import { type CompiledPolicy, type EvidenceContext, evaluate } from '../policy/index.ts';
import type { StageSpec } from './pipeline-spec.ts';
import { parseDuration, windowState } from './windows.ts';

export interface Approval {
  readonly user: string;
  readonly stage: string;
  readonly at: Date;
  readonly comment?: string;
  /** Groups the approver belonged to when approving (for `of: [group:NAME]`). */
  readonly groups?: readonly string[];
}

/** A successful verification of the digest in an upstream stage. */
export interface UpstreamVerification {
  readonly stage: string;
  readonly verifiedAt: Date;
}

/** A veto (the digest may go nowhere) or a hold (no automatic promotion into this stage). */
export interface Block {
  readonly by: string;
  readonly reason: string;
  readonly at: Date;
}

export interface PromotionRequest {
  readonly stage: StageSpec;
  /** The stage's gates, compiled once; the decision is pinned to its digest. */
  readonly policy: CompiledPolicy;
  readonly context: EvidenceContext;
  readonly approvals: readonly Approval[];
  readonly history: readonly UpstreamVerification[];
  readonly now: Date;
  readonly veto: Block | null;
  readonly hold: Block | null;
  /** Who built the artifact, when known. */
  readonly author: string | null;
  readonly promoter: string;
  readonly trigger: 'manual' | 'auto';
}

interface StepBase {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

export type PromotionStep =
  | (StepBase & { readonly kind: 'veto' | 'hold' })
  | (StepBase & {
      readonly kind: 'upstream';
      readonly verified: readonly string[];
      readonly missing: readonly string[];
    })
  | (StepBase & { readonly kind: 'soak'; readonly readyAt: Date | null })
  | (StepBase & {
      readonly kind: 'gate';
      readonly expression: string;
      readonly observed: Readonly<Record<string, unknown>>;
      readonly error?: string;
    })
  | (StepBase & {
      readonly kind: 'approvals';
      readonly approvers: readonly string[];
      readonly ignored: ReadonlyArray<{ user: string; reason: string }>;
    })
  | (StepBase & { readonly kind: 'window'; readonly nextOpening: Date | null });

export interface PromotionDecision {
  readonly allowed: boolean;
  readonly policyDigest: Digest;
  /** Every step, passing or not, in a fixed order: veto, upstream, soak, gates, approvals, window, hold. */
  readonly steps: readonly PromotionStep[];
  /** When the stage's window is closed: when it opens next. */
  readonly nextOpening?: Date;
}

/** The one evaluator for manual and automatic promotion: every step is evaluated and explained, none throws. */
export function decidePromotion(request: PromotionRequest): PromotionDecision {
  const { stage, now } = request;
  const steps: PromotionStep[] = [vetoStep(request.veto)];
  if (stage.from.length > 0) steps.push(upstreamStep(stage, request.history, now));
  if (stage.soak !== undefined) steps.push(soakStep(stage, stage.soak, request.history, now));
  for (const gate of evaluate(request.policy, request.context).gates) {
    const detail = gate.passed ? 'true' : (gate.error ?? 'false');
    steps.push({ kind: 'gate', ...gate, detail });
  }
  if (stage.approvals !== undefined) steps.push(approvalsStep(request));
  if (stage.windows.length > 0) steps.push(windowStep(stage, now));
  steps.push(holdStep(request));
  const window = steps.find((s) => s.kind === 'window');
  const nextOpening = window?.nextOpening ?? undefined;
  return {
    allowed: steps.every((s) => s.passed),
    policyDigest: request.policy.digest,
    steps,
    ...(nextOpening === undefined ? {} : { nextOpening }),
  };
}

function vetoStep(veto: Block | null): PromotionStep {
  return veto === null
    ? { kind: 'veto', name: 'veto', passed: true, detail: 'not vetoed' }
    : {
        kind: 'veto',
        name: 'veto',
        passed: false,
        detail: `vetoed by ${veto.by} at ${veto.at.toISOString()}: ${veto.reason}`,
      };
}

// The earliest verification per stage, ignoring any recorded after `now`.
function verifiedSince(history: readonly UpstreamVerification[], now: Date): Map<string, number> {
  const since = new Map<string, number>();
  for (const v of history) {
    const t = v.verifiedAt.getTime();
    if (t <= now.getTime() && t < (since.get(v.stage) ?? Infinity)) since.set(v.stage, t);
  }
  return since;
}

function upstreamStep(stage: StageSpec, history: readonly UpstreamVerification[], now: Date): PromotionStep {
  const since = verifiedSince(history, now);
  const verified = stage.from.filter((s) => since.has(s));
  const missing = stage.from.filter((s) => !since.has(s));
  const passed = stage.require === 'all' ? missing.length === 0 : verified.length > 0;
  const need = stage.require === 'all' ? `all of ${stage.from.join(', ')}` : `any of ${stage.from.join(', ')}`;
  const detail = passed
    ? `verified in ${verified.join(', ')} (needs ${need})`
    : `not verified in ${missing.join(', ')} (needs ${need})`;
  return { kind: 'upstream', name: 'upstream', passed, detail, verified, missing };
}

function soakStep(stage: StageSpec, soak: string, history: readonly UpstreamVerification[], now: Date): PromotionStep {
  const since = verifiedSince(history, now);
  const ms = parseDuration(soak);
  const starts = stage.from.map((s) => since.get(s));
  // all: the clock starts once the last upstream is verified; any: the first upstream to finish its soak counts.
  const start =
    stage.require === 'all'
      ? starts.includes(undefined)
        ? undefined
        : Math.max(...(starts as number[]))
      : starts.some((s) => s !== undefined)
        ? Math.min(...starts.filter((s) => s !== undefined))
        : undefined;
  if (start === undefined) {
    return {
      kind: 'soak',
      name: 'soak',
      passed: false,
      detail: `needs ${soak} verified upstream; not verified yet`,
      readyAt: null,
    };
  }
  const readyAt = new Date(start + ms);
  const passed = readyAt.getTime() <= now.getTime();
  const verifiedFor = formatDuration(now.getTime() - start);
  const detail = passed
    ? `verified upstream for ${verifiedFor} (needs ${soak})`
    : `verified upstream for ${verifiedFor}, needs ${soak}: ready at ${readyAt.toISOString()}`;
  return { kind: 'soak', name: 'soak', passed, detail, readyAt };
}

function approvalsStep(request: PromotionRequest): PromotionStep {
  const spec = request.stage.approvals!;
  const users = new Set(spec.of?.filter((w) => !w.startsWith('group:')));
  const groups = new Set(spec.of?.filter((w) => w.startsWith('group:')).map((w) => w.slice('group:'.length)));
  const approvers: string[] = [];
  const ignored: Array<{ user: string; reason: string }> = [];
  const seen = new Set<string>();
  const relevant = request.approvals
    .filter((a) => a.stage === request.stage.name && a.at.getTime() <= request.now.getTime())
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  // Separation of duties is between people: `alice#1a2b` and `alice#9f8e` (two tokens) are one principal.
  const author = request.author === null ? null : actorPrincipal(request.author);
  const promoter = actorPrincipal(request.promoter);
  for (const approval of relevant) {
    const user = actorPrincipal(approval.user);
    if (seen.has(user)) continue; // distinct people: a second approval by the same user adds nothing
    seen.add(user);
    const reason =
      user === author && !spec.allowAuthor
        ? 'the author of the build cannot approve it'
        : user === promoter && !spec.allowPromoter
          ? 'the promoter cannot approve their own promotion'
          : spec.of !== undefined && !users.has(user) && !(approval.groups ?? []).some((g) => groups.has(g))
            ? `not one of ${spec.of.join(', ')}`
            : undefined;
    if (reason === undefined) approvers.push(user);
    else ignored.push({ user, reason });
  }
  const passed = approvers.length >= spec.count;
  const counted = `${approvers.length} of ${spec.count} approvals${approvers.length ? ` (${approvers.join(', ')})` : ''}`;
  const skipped = ignored.map((i) => `${i.user}: ${i.reason}`).join('; ');
  const detail = skipped ? `${counted}; not counted: ${skipped}` : counted;
  return { kind: 'approvals', name: 'approvals', passed, detail, approvers, ignored };
}

function windowStep(stage: StageSpec, now: Date): PromotionStep {
  try {
    const state = windowState(stage.windows, now);
    const next = state.nextOpening ? `; opens ${state.nextOpening.toISOString()}` : '';
    return {
      kind: 'window',
      name: 'window',
      passed: state.open,
      detail: `${state.reason}${next}`,
      nextOpening: state.nextOpening,
    };
  } catch (err) {
    const detail = `cannot evaluate the windows: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'window', name: 'window', passed: false, detail, nextOpening: null };
  }
}

function holdStep({ stage, hold, trigger }: PromotionRequest): PromotionStep {
  const held = hold === null ? undefined : `held by ${hold.by} at ${hold.at.toISOString()}: ${hold.reason}`;
  if (trigger === 'manual') {
    return {
      kind: 'hold',
      name: 'hold',
      passed: true,
      detail: held ? `${held} (a hold stops only automatic promotion)` : 'not held',
    };
  }
  if (!stage.auto) {
    return {
      kind: 'hold',
      name: 'auto',
      passed: false,
      detail: `automatic promotion into ${stage.name} is not enabled`,
    };
  }
  return held
    ? { kind: 'hold', name: 'hold', passed: false, detail: held }
    : { kind: 'hold', name: 'hold', passed: true, detail: 'not held' };
}

function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const [d, h, m] = [Math.floor(minutes / 1440), Math.floor((minutes % 1440) / 60), minutes % 60];
  return [d ? `${d}d` : '', h ? `${h}h` : '', m || (!d && !h) ? `${m}m` : ''].join('');
}
