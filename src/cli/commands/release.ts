import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { createRegistryClient } from '../../oci/index.ts';
import type { APIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { digestLookup, withAlias } from '../digest-address.ts';
import { parseDurationFlag } from '../flag-values.ts';
import { CLIError, EXIT, emit, type GlobalOptions, hint, shortDigest, table, when } from '../output.ts';
import { createProgress } from '../progress.ts';
import { promoteWhenAllowed, type WaitedOutcome, type WaitOptions } from '../promote-wait.ts';
import { confirmByName, isProtectedStage, valueOrAsk } from '../prompt.ts';
import { registryCredentials } from '../registry-credentials.ts';
import { resolveImage } from './sign.ts';

interface StepView {
  kind: string;
  name: string;
  passed: boolean;
  detail: string;
  expression?: string;
  observed?: Record<string, unknown>;
  nextOpening?: string | null;
}

interface DecisionView {
  allowed: boolean;
  policyDigest: string;
  steps: StepView[];
  nextOpening?: string;
}

/** One line per step; a failing gate shows its expression and the values it saw. */
export function renderDecision(decision: DecisionView): string[] {
  const lines: string[] = [];
  for (const s of decision.steps) {
    lines.push(`  ${s.passed ? '✔' : '✘'} ${s.kind === 'gate' ? `gate ${s.name}` : s.kind}: ${s.detail}`);
    if (!s.passed && s.kind === 'gate') {
      if (s.expression !== undefined) lines.push(`      expression: ${s.expression}`);
      for (const [k, v] of Object.entries(s.observed ?? {})) lines.push(`      ${k} = ${JSON.stringify(v)}`);
    }
  }
  if (decision.nextOpening !== undefined) lines.push(`  next opening: ${decision.nextOpening}`);
  lines.push(`  policy ${decision.policyDigest}`);
  return lines;
}

interface PromoteFlags {
  to: string;
  yes?: boolean;
  dryRun?: boolean;
  reason?: string;
  wait?: boolean;
  timeout: string;
}

// promote --wait: see promote-wait.ts; what it waits for is progress on stderr.
async function waitToPromote(
  g: GlobalOptions,
  client: APIClient,
  input: WaitOptions['input'],
  seconds: number,
): Promise<WaitedOutcome> {
  const progress = createProgress({ json: g.json === true, mode: g.progress });
  try {
    return await promoteWhenAllowed({
      client,
      input,
      timeoutMs: seconds === 0 ? null : seconds * 1000,
      onWaiting: (line) => progress.set('wait', line),
    });
  } finally {
    progress.done();
  }
}

async function target(g: GlobalOptions, text: string) {
  const { client, server, token } = resolveClient(g);
  const registry = createRegistryClient({ credentials: registryCredentials({ server, token }) });
  const image = await resolveImage(registry, text, digestLookup(client, server));
  return {
    client,
    repository: image.ref.repository,
    digest: image.digest,
    name: `${image.ref.registry}/${image.ref.repository}`,
  };
}

export function addReleaseCommands(program: Command, globals: () => GlobalOptions): void {
  const pipeline = program.command('pipeline').description('the promotion pipeline: stages, gates, approvals, windows');
  pipeline
    .command('apply')
    .description('validate and store a pipeline YAML as a new version (recorded in the ledger)')
    .argument('<file>', 'pipeline.yaml')
    .action(async (file: string) => {
      const g = globals();
      const applied = await resolveClient(g).client.applyPipeline(await readFile(file, 'utf8'));
      emit(g, 'PipelineVersion', applied, () => `✔ pipeline version ${applied.version} (${applied.digest})`);
    });
  pipeline
    .command('show')
    .description('print the current pipeline version and its YAML')
    .action(async () => {
      const g = globals();
      const current = await resolveClient(g).client.pipeline();
      emit(g, 'Pipeline', current, () => `# version ${current.version} ${current.digest}\n${current.yaml}`);
    });

  program
    .command('promote')
    .description('move a digest into a stage when every gate passes; nothing is rebuilt')
    .argument(
      '<ref>',
      'image in the Fixity registry: reference (a tag is resolved once), digest, digest prefix or alias',
    )
    .requiredOption('--to <stage>', 'the stage to promote into')
    .option('--yes', 'do not ask to type the name of a protected stage')
    .option('-m, --reason <text>', 'why: kept with the promotion and in the ledger (required into a protected stage)')
    .option('-n, --dry-run', 'show what the promotion would do (every gate), change nothing; exit 0')
    .option(
      '--wait',
      'while only approvals, a window, a soak, a hold or earlier stages stand in the way, wait and retry',
    )
    .option('--timeout <duration>', 'with --wait: give up after this long, e.g. 90s, 15m, 2h (0: never)', '15m')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity promote localhost:7070/hello:1.0.0 --to staging\n  fixity promote localhost:7070/hello:1.0.0 --to production --dry-run\n  fixity promote 9c21de --to production --wait --timeout 2h -m "release 1.4"\n\nA stage marked `protected: true` asks to type its name first (--yes skips; exit 2 where nobody can be asked).\nExit 3 when a gate refuses (each gate says why), 6 when another promotion won the stage, 5 when --wait times out.',
    )
    .action(async (text: string, opts: PromoteFlags) => {
      const g = globals();
      const timeout = parseDurationFlag(opts.timeout, '--timeout');
      const t = await target(g, text);
      if (opts.dryRun === true) {
        const plan = await t.client.planPromotion({ repository: t.repository, digest: t.digest, stage: opts.to });
        const decision = plan.decision as DecisionView | undefined;
        emit(g, 'PromotionPlan', plan, () => {
          const failing = decision?.steps.filter((s) => !s.passed).length ?? 0;
          const verdict =
            plan.result === 'already-in'
              ? `already there: ${String(plan.message)}`
              : plan.result === 'would-promote'
                ? 'would promote'
                : `would be refused (${failing} step(s) fail)`;
          return [
            `${t.name}@${t.digest} → ${opts.to} (pipeline version ${String(plan.pipelineVersion)})`,
            ...(decision === undefined ? [] : renderDecision(decision)),
            `Plan: ${verdict}. Nothing was changed.`,
          ].join('\n');
        });
        return;
      }
      let reason = opts.reason;
      if (await isProtectedStage(t.client, opts.to)) {
        const action = `promote into protected stage ${opts.to}`;
        await confirmByName({
          yes: opts.yes,
          action,
          name: opts.to,
          detail: [`${t.name}@${t.digest} → ${opts.to} (protected)`],
        });
        reason = await valueOrAsk(reason, { question: 'Reason (kept in the ledger): ', flag: '--reason', action });
      }
      const input = {
        repository: t.repository,
        digest: t.digest,
        stage: opts.to,
        ...(reason === undefined ? {} : { reason }),
      };
      const outcome = opts.wait ? await waitToPromote(g, t.client, input, timeout) : await t.client.promote(input);
      if (outcome.result === 'already-in') {
        emit(g, 'PromotionOutcome', outcome, () => `✔ ${t.name}@${t.digest} is in ${opts.to}: ${outcome.message}`);
        return;
      }
      const decision = outcome.decision as DecisionView | undefined;
      emit(g, 'PromotionOutcome', outcome, () => {
        const head =
          outcome.result === 'promoted' || outcome.result === 'incomplete'
            ? `✔ promoted ${t.name}@${withAlias(t.digest)} to ${opts.to}${outcome.result === 'incomplete' ? ' (evidence pending: the server finishes it)' : ''}`
            : outcome.result === 'conflict'
              ? `✘ not promoted to ${opts.to}: ${String(outcome.message ?? 'another promotion won')}`
              : `✘ not promoted to ${opts.to}: ${decision?.steps.filter((s) => !s.passed).length ?? 0} step(s) refused`;
        return [head, ...(decision === undefined ? [] : renderDecision(decision))].join('\n');
      });
      if (outcome.result === 'refused') process.exitCode = EXIT.denied;
      else if (outcome.result === 'conflict') process.exitCode = EXIT.unsuccessful;
      else hint(g, `fixity status ${text}   (and deploy it where ${opts.to} runs: fixity deploy ENV --dry-run)`);
    });

  program
    .command('status')
    .description('where is this digest, and what does it lack for the next stage?')
    .argument(
      '<ref>',
      'image reference (a tag is resolved once), or a digest, digest prefix or alias known to the server',
    )
    .action(async (text: string) => {
      const g = globals();
      const t = await target(g, text);
      const status = (await t.client.releaseStatus(t.repository, t.digest)) as {
        veto: { reason: string; actor: string } | null;
        promotions: Array<{
          stage: string;
          actor: string;
          promotedAt: string;
          policyDigest: string;
          reason: string | null;
        }>;
        next: Array<{ stage: string; decision: DecisionView; hold: { reason: string } | null }>;
      };
      emit(g, 'ReleaseStatus', status, () =>
        [
          `📦 ${t.name}@${withAlias(t.digest)}`,
          ...(status.veto === null ? [] : [`⛔ vetoed by ${status.veto.actor}: ${status.veto.reason}`]),
          status.promotions.length === 0
            ? '  in no stage yet'
            : table([
                ['STAGE', 'BY', 'AT', 'POLICY', 'REASON'],
                ...status.promotions.map((p) => [
                  p.stage,
                  p.actor,
                  when(p.promotedAt),
                  shortDigest(p.policyDigest),
                  p.reason ?? '-',
                ]),
              ]),
          ...status.next.flatMap((n) => [
            `→ ${n.stage}: ${n.decision.allowed ? 'ready' : 'blocked'}${n.hold ? ` (held: ${n.hold.reason})` : ''}`,
            ...renderDecision(n.decision),
          ]),
        ].join('\n'),
      );
    });

  program
    .command('approve')
    .description('approve a digest for a stage (counts once per person; never the author or promoter)')
    .argument('<ref>', 'image reference, or a digest, digest prefix or alias known to the server')
    .requiredOption('--stage <stage>', 'the stage the approval is for')
    .option('-m, --reason <text>', 'why: kept with the approval and in the ledger')
    .option('--comment <text>', 'the same as --reason', '')
    .action(async (text: string, opts: { stage: string; comment: string; reason?: string }) => {
      const g = globals();
      const t = await target(g, text);
      const approval = await t.client.approve({
        repository: t.repository,
        digest: t.digest,
        stage: opts.stage,
        comment: opts.reason ?? opts.comment,
      });
      emit(g, 'Approval', approval, () => `✔ approved ${t.name}@${t.digest} for ${opts.stage}`);
    });

  program
    .command('veto')
    .description('forbid a digest from being promoted or deployed anywhere until an admin lifts the veto')
    .argument('<ref>', 'image reference, or a digest, digest prefix or alias known to the server')
    .option('--reason <text>', 'why (required)')
    .option('--lift', 'lift the veto instead (admin)')
    .action(async (text: string, opts: { reason?: string; lift?: boolean }) => {
      const g = globals();
      const t = await target(g, text);
      if (opts.lift) {
        const lifted = await t.client.liftVeto(t.digest);
        return emit(g, 'VetoLifted', lifted, () => `✔ lifted the veto on ${t.digest}`);
      }
      if (opts.reason === undefined)
        throw new CLIError('USAGE', 'Cannot veto without --reason', 'say why, for the record');
      const veto = await t.client.veto(t.digest, opts.reason);
      emit(g, 'Veto', veto, () => `⛔ vetoed ${t.name}@${t.digest}: ${opts.reason}`);
    });

  program
    .command('hold')
    .description('stop automatic promotion into a stage (manual promotion still works)')
    .argument('<stage>', 'stage')
    .option('--reason <text>', 'why', '')
    .action(async (stage: string, opts: { reason: string }) => {
      const g = globals();
      const hold = await resolveClient(g).client.hold(stage, opts.reason);
      emit(g, 'Hold', hold, () => `⏸ held ${stage}: automation will not promote into it`);
    });
  program
    .command('unhold')
    .description('let automatic promotion into a stage resume')
    .argument('<stage>', 'stage')
    .action(async (stage: string) => {
      const g = globals();
      const released = await resolveClient(g).client.unhold(stage);
      emit(g, 'HoldReleased', released, () => `▶ released the hold on ${stage}`);
    });
}
