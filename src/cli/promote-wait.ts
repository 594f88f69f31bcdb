/**
 * `fixity promote --wait` (CLI style rule 9): a promotion that gates refuse only for now — approvals still to
 * come, a window not open yet, a soak not over, a hold, the digest not yet in the stages before — is tried
 * again once those may have changed, until it goes through, a gate or a veto refuses it for good, or the
 * timeout passes. Waiting asks the server for a dry run (nothing is logged); the promotion itself is made
 * only when the dry run says it would pass.
 */
import type { APIClient, PromotionOutcomeView } from './api-client.ts';
import { CLIError } from './output.ts';

// What passes later without the digest changing. A failing policy gate or a veto is an answer.
const WAITABLE = new Set(['approvals', 'window', 'soak', 'hold', 'upstream']);
const POLL_MS = 2000;

interface StepView {
  kind: string;
  name: string;
  passed: boolean;
  detail: string;
}

export type WaitedOutcome = PromotionOutcomeView | { result: 'already-in'; message: string };

export interface WaitOptions {
  client: APIClient;
  input: { repository: string; digest: string; stage: string; reason?: string };
  /** null: no limit. */
  timeoutMs: number | null;
  /** What it waits for now, each time that changes. */
  onWaiting: (line: string) => void;
  pollMs?: number;
}

export async function promoteWhenAllowed(options: WaitOptions): Promise<WaitedOutcome> {
  const { client, input } = options;
  const started = Date.now();
  let waitingFor: string[] = [];
  let said = '';
  for (;;) {
    const plan = await client.planPromotion(input);
    if (plan.result === 'already-in') return { result: 'already-in', message: String(plan.message) };
    const steps = (plan.decision as { steps?: StepView[] } | undefined)?.steps ?? [];
    const failing = steps.filter((s) => !s.passed);
    if (plan.result === 'would-promote') {
      const outcome = await client.promote(input);
      // Between the dry run and the promotion something changed: a waitable refusal or a lost race is
      // looked at again; anything else is the answer.
      if (outcome.result === 'promoted' || outcome.result === 'incomplete') return outcome;
      if (outcome.result === 'refused' && !onlyWaitable(outcome)) return outcome;
    } else if (failing.some((s) => !WAITABLE.has(s.kind))) {
      // Refused for good: the promotion itself says so, with its decision, as promote without --wait does.
      return client.promote(input);
    }
    waitingFor = failing.map((s) => s.name);
    const line = `◷ waiting: ${failing.map((s) => `${s.name} (${s.detail})`).join('; ') || 'the promotion to settle'}`;
    if (line !== said) options.onWaiting(line);
    said = line;
    const left = options.timeoutMs === null ? Number.POSITIVE_INFINITY : started + options.timeoutMs - Date.now();
    if (left <= 0) {
      throw new CLIError(
        'TIMEOUT',
        `Not promoted to ${input.stage} after ${Math.round((options.timeoutMs ?? 0) / 1000)} s: still waiting for ${waitingFor.join(', ') || 'the promotion'}`,
        `see what it waits for: fixity status ${input.digest}; wait longer with --timeout (0: no limit)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.pollMs ?? POLL_MS, left)));
  }
}

function onlyWaitable(outcome: PromotionOutcomeView): boolean {
  const steps = (outcome.decision as { steps?: StepView[] } | undefined)?.steps ?? [];
  return steps.filter((s) => !s.passed).every((s) => WAITABLE.has(s.kind));
}
