/**
 * `fixity deploy`, `fixity rollout status|pause|resume|abort|promote`, `fixity rollback` and `fixity drift`:
 * releases rolled out to an environment, followed and steered as they go, undone, and checked against what
 * each instance was created from.
 */
import type { Command } from 'commander';
import { resolveClient } from '../context.ts';
import { parseDurationFlag } from '../flag-values.ts';
import { CLIError, EXIT, emit, type GlobalOptions, hint, table } from '../output.ts';
import { confirmByName, isProtectedStage, unlessNotFound } from '../prompt.ts';

interface StepView {
  at: string;
  action: string;
  result: string;
  detail: string;
}

interface ServiceStatusView {
  service: string;
  url: string | null;
  currentRelease: string | null;
  previousRelease: string | null;
  weights: Record<string, number>;
  rollout: {
    id: string;
    status: string;
    target: string;
    stable: string | null;
    strategy: string | null;
    phase: string | null;
    message: string;
    switched?: boolean;
    steps: StepView[];
  } | null;
  instances: Array<{
    id: string;
    release: string;
    state: string;
    address: string;
    sandboxed: boolean;
    reason: string | null;
  }>;
}

interface EnvironmentStatusView {
  environment: string;
  stage: string;
  version: number;
  services: ServiceStatusView[];
}

/** The short form of a digest: twelve hex digits after `sha256:`, or a dash for none. */
export const short = (digest: string | null) => (digest === null ? '—' : digest.slice(7, 19));

/** A service's state as text: where it is served, its releases and weights, the rollout, the instances. */
export function renderService(s: ServiceStatusView, steps = 8): string[] {
  const weights = Object.entries(s.weights)
    .map(([r, w]) => `${short(r)} ${w}%`)
    .join(', ');
  const lines = [
    `● ${s.service}  ${s.url ?? '(no router yet)'}`,
    `  serving ${short(s.currentRelease)}${s.previousRelease ? `  (previous ${short(s.previousRelease)})` : ''}${weights ? `  traffic: ${weights}` : ''}`,
  ];
  if (s.rollout !== null) {
    const r = s.rollout;
    lines.push(
      `  rollout ${r.id} ${r.status}${r.phase ? ` / ${r.phase}` : ''}: ${r.strategy ?? ''} ${short(r.stable)} → ${short(r.target)}${r.message ? ` — ${r.message}` : ''}`,
    );
    for (const st of r.steps.slice(-steps))
      lines.push(
        `    ${st.result === 'failed' ? '✘' : st.result === 'skipped' ? '·' : '✔'} ${st.at.slice(11, 19)} ${st.action}: ${st.detail}`,
      );
  }
  if (s.instances.length > 0) {
    lines.push(
      table([
        ['INSTANCE', 'RELEASE', 'STATE', 'ADDRESS', 'SANDBOX'],
        ...s.instances.map((i) => [
          i.id,
          short(i.release),
          i.reason ? `${i.state} (${i.reason})` : i.state,
          i.address,
          i.sandboxed ? 'bwrap' : 'none',
        ]),
      ])
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return lines;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DeployPlanView {
  service: string;
  result: 'start' | 'unchanged' | 'in-progress' | 'conflict' | 'refused';
  current: string | null;
  release: string | null;
  image: string | null;
  message: string;
}

const PLAN_MARK = { start: '+', unchanged: '=', 'in-progress': '~', conflict: '!', refused: '✘' } as const;

/** A deploy's dry run, terraform-style: a symbol and a line per service, then the counts. */
function renderPlan(env: string, plan: readonly DeployPlanView[]): string {
  const count = (r: DeployPlanView['result']) => plan.filter((p) => p.result === r).length;
  const lines = plan.map((p) => {
    const what =
      p.result === 'start'
        ? `${p.message}: ${p.current === null ? 'nothing yet' : short(p.current)} → ${short(String(p.release))} (image ${short(String(p.image))})`
        : p.result === 'unchanged'
          ? `unchanged, already serving ${short(String(p.release))}`
          : `${p.result}: ${p.message}`;
    return `  ${PLAN_MARK[p.result]} ${p.service}: ${what}`;
  });
  const summary = [
    `${count('start')} to roll out`,
    `${count('unchanged')} unchanged`,
    ...(['in-progress', 'conflict', 'refused'] as const).filter((r) => count(r) > 0).map((r) => `${count(r)} ${r}`),
  ];
  return [`${env} (dry run)`, ...lines, `Plan: ${summary.join(', ')}. Nothing was changed.`].join('\n');
}

export function addDeployCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('deploy')
    .description(
      'roll the release each service asks for out to an environment (refused for vetoed or unpromoted digests)',
    )
    .argument('<env>', 'the environment')
    .option('--service <name>', 'only this service')
    .option('--wait', 'follow the rollout until it completes or rolls back (exit 6 when it does not complete)')
    .option('-n, --dry-run', 'show what each service would roll out (or why not), change nothing; exit 0')
    .option('--timeout <duration>', 'with --wait: give up after this long, e.g. 90s, 10m, 1h (0: never)', '10m')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity deploy staging\n  fixity deploy staging --dry-run\n  fixity deploy staging --service hello --wait --timeout 20m\n\nExit 3 when the digest is vetoed or was never promoted to the stage, 6 when a rollout is already running\nor, with --wait, does not complete, 5 when --wait times out.',
    )
    .action(async (name: string, opts: { service?: string; wait?: boolean; timeout: string; dryRun?: boolean }) => {
      const g = globals();
      const timeout = parseDurationFlag(opts.timeout, '--timeout');
      const { client } = resolveClient(g);
      if (opts.dryRun === true) {
        const plan = (await client.planDeploy(name, opts.service)) as unknown as DeployPlanView[];
        emit(g, 'DeployPlan', { items: plan }, () => renderPlan(name, plan));
        return;
      }
      const items = await client.deploy(name, opts.service);
      if (!opts.wait) {
        emit(g, 'DeployOutcomeList', { items }, () =>
          items
            .map(
              (i) =>
                `${i.result === 'unchanged' ? '·' : '✔'} ${String(i.service)}: ${String(i.message)} (release ${short(String(i.release))}, image ${String(i.image)})`,
            )
            .join('\n'),
        );
        if (items.some((i) => i.result === 'started')) hint(g, `fixity rollout status ${name}`);
        return;
      }
      const deadline = timeout === 0 ? Number.POSITIVE_INFINITY : Date.now() + timeout * 1000;
      const ids = new Set(items.map((i) => i.rollout).filter((r): r is string => typeof r === 'string'));
      const seen = new Set<string>();
      for (;;) {
        const status = (await client.rolloutStatus(name, opts.service)) as unknown as EnvironmentStatusView;
        const mine = status.services.filter((s) => s.rollout !== null && ids.has(s.rollout.id));
        // Done once no rollout is active, or all traffic is on the new release and only the blue-green
        // scale-down delay keeps the old one warm (for an instant rollback).
        const done = mine.every((s) => s.rollout?.status !== 'active' || s.rollout.switched === true);
        if (!g.json) {
          // Follow the rollout: each step once, as it happens.
          for (const s of mine) {
            for (const st of s.rollout?.steps ?? []) {
              const line = `${s.service}  ${st.result === 'failed' ? '✘' : st.result === 'skipped' ? '·' : '✔'} ${st.at.slice(11, 19)} ${st.action}: ${st.detail}`;
              if (!seen.has(line)) process.stdout.write(`${line}\n`);
              seen.add(line);
            }
          }
        }
        if (done) {
          if (g.json) emit(g, 'EnvironmentStatus', status, () => '');
          const failed = mine.filter((s) => s.rollout?.status !== 'completed' && s.rollout?.switched !== true);
          if (failed.length > 0) {
            if (!g.json)
              process.stderr.write(`✘ ${failed.map((s) => `${s.service}: ${s.rollout?.status}`).join(', ')}\n`);
            process.exitCode = EXIT.unsuccessful;
          } else if (!g.json) process.stdout.write('✔ rollout complete\n');
          return;
        }
        if (Date.now() > deadline)
          throw new CLIError(
            'TIMEOUT',
            `Rollout still in progress after ${timeout} s`,
            `follow it with: fixity rollout status ${name}; wait longer with --timeout (0: no limit)`,
          );
        await sleep(1000);
      }
    });

  const rollout = program
    .command('rollout')
    .description('follow and steer rollouts: status, pause, resume, abort, promote');
  rollout
    .command('status')
    .description('each service: serving release, traffic weights, the rollout and its steps, the instances')
    .argument('<env>')
    .argument('[service]')
    .action(async (name: string, service: string | undefined) => {
      const g = globals();
      const status = (await resolveClient(g).client.rolloutStatus(name, service)) as unknown as EnvironmentStatusView;
      emit(g, 'EnvironmentStatus', status, () =>
        [
          `${status.environment} (stage ${status.stage}, version ${status.version})`,
          ...status.services.flatMap((s) => renderService(s)),
        ].join('\n'),
      );
    });
  for (const [command, what] of [
    ['pause', 'pause the rollout where it is'],
    ['resume', 'resume a paused rollout (also approves a pause that waits for approval)'],
    ['abort', 'abort the rollout: traffic back to the stable release, the new one scaled down'],
    ['promote', 'skip the remaining steps and promote the new release fully'],
  ] as const) {
    rollout
      .command(command)
      .description(what)
      .argument('<env>')
      .argument('<service>')
      .action(async (name: string, service: string) => {
        const g = globals();
        const done = await resolveClient(g).client.rolloutCommand(name, service, command);
        emit(g, 'RolloutCommand', done, () => `✔ ${command} queued for rollout ${String(done.rollout)}`);
      });
  }

  program
    .command('rollback')
    .description('back to the previous release: instant while it is warm, else a new rollout; holds the stage')
    .argument('<env>')
    .argument('<service>')
    .option('--reason <text>', 'why (recorded with the hold and in the ledger)')
    .option('--yes', 'do not ask to type the environment name when its stage is protected')
    .action(async (name: string, service: string, opts: { reason?: string; yes?: boolean }) => {
      const g = globals();
      const { client } = resolveClient(g);
      const current = await unlessNotFound(client.environment(name));
      const stage = (current?.spec as { stage?: string } | undefined)?.stage;
      if (stage !== undefined && (await isProtectedStage(client, stage))) {
        await confirmByName({
          yes: opts.yes,
          action: `roll back ${service} in ${name}`,
          name,
          detail: [`${name} is bound to protected stage ${stage}: ${service} goes back to its previous release.`],
        });
      }
      const done = await client.rollback(name, service, opts.reason);
      emit(g, 'Rollback', done, () =>
        [
          done.mode === 'instant'
            ? `✔ rolled back to ${short(String(done.release))} at once (it was still warm)`
            : done.mode === 'abort'
              ? `✔ aborting rollout ${String(done.rollout)}: traffic returns to ${short(String(done.release))}`
              : `✔ rolling back to ${short(String(done.release))} in rollout ${String(done.rollout)}`,
          done.held
            ? '  automatic promotion into the stage is on hold (fixity unhold STAGE when fixed)'
            : '  (no pipeline stage to hold)',
        ].join('\n'),
      );
      hint(g, `fixity rollout status ${name} ${service}`);
    });

  program
    .command('drift')
    .description('check every instance of an environment against what it was created from')
    .argument('<env>')
    .action(async (name: string) => {
      const g = globals();
      const report = (await resolveClient(g).client.drift(name)) as {
        checked: Array<{ instance: string; findings: Array<{ kind: string; subject: string }> }>;
        recorded: Array<{
          at: string;
          instance: string;
          action: string;
          findings: Array<{ kind: string; subject: string }>;
        }>;
      };
      emit(g, 'DriftReport', report, () => {
        const drifted = report.checked.filter((c) => c.findings.length > 0);
        return [
          `${report.checked.length} instance(s) checked, ${drifted.length} drifted now`,
          ...drifted.flatMap((d) => [`✘ ${d.instance}`, ...d.findings.map((f) => `    ${f.kind} ${f.subject}`)]),
          ...(report.recorded.length === 0
            ? []
            : [
                'recorded:',
                ...report.recorded
                  .slice(0, 20)
                  .map(
                    (r) =>
                      `  ${r.at} ${r.instance}: ${r.findings.map((f) => `${f.kind} ${f.subject}`).join(', ')} → ${r.action}`,
                  ),
              ]),
        ].join('\n');
      });
      if (report.checked.some((c) => c.findings.length > 0)) process.exitCode = EXIT.verification;
    });
}
