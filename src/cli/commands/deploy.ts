/**
 * `fixity deploy`, `fixity rollout status|pause|resume|abort|promote`, `fixity rollback`, `fixity run show|wait`
 * and `fixity drift`: releases rolled out to an environment, followed and steered as they go (or attached to
 * later by the rollout's id), undone, and checked against what each instance was created from.
 */

import type { Command } from 'commander';
import type { APIClient } from '../api-client.ts';
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

interface RolloutView {
  id: string;
  status: string;
  target: string;
  stable: string | null;
  strategy: string | null;
  phase: string | null;
  message: string;
  /** All traffic is on the target; only the blue-green scale-down delay keeps the old release warm. */
  switched?: boolean;
  steps: StepView[];
}

/** A rollout fetched by id (`fixity run`): the view status shows, with where it runs. */
interface NamedRolloutView extends RolloutView {
  environment: string;
  service: string;
}

interface ServiceStatusView {
  service: string;
  url: string | null;
  currentRelease: string | null;
  previousRelease: string | null;
  weights: Record<string, number>;
  rollout: RolloutView | null;
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
  if (s.rollout !== null) lines.push(...rolloutLines(s.rollout, steps).map((l) => `  ${l}`));
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

/** A rollout and its newest `steps` steps, a line each. */
function rolloutLines(r: RolloutView, steps: number): string[] {
  return [
    `rollout ${r.id} ${r.status}${r.phase ? ` / ${r.phase}` : ''}: ${r.strategy ?? ''} ${short(r.stable)} → ${short(r.target)}${r.message ? ` — ${r.message}` : ''}`,
    ...r.steps.slice(-steps).map((st) => `  ${stepLine(st)}`),
  ];
}

const stepLine = (st: StepView) =>
  `${st.result === 'failed' ? '✘' : st.result === 'skipped' ? '·' : '✔'} ${st.at.slice(11, 19)} ${st.action}: ${st.detail}`;

/** Nothing more will happen on its own: the rollout ended, or switched and only keeps the old release warm. */
const settled = (r: RolloutView) => r.status !== 'active' || r.switched === true;
const succeeded = (r: RolloutView) => r.status === 'completed' || r.switched === true;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Follows rollouts by id until every one has settled, printing each step once as it happens (not with
 * --json), and resolves with the last view of each. Past `timeoutSeconds` (0: never) a TIMEOUT error says
 * how to follow them further (`follow`).
 */
async function followRollouts(
  g: GlobalOptions,
  client: APIClient,
  ids: readonly string[],
  timeoutSeconds: number,
  follow: string,
): Promise<NamedRolloutView[]> {
  const deadline = timeoutSeconds === 0 ? Number.POSITIVE_INFINITY : Date.now() + timeoutSeconds * 1000;
  const seen = new Set<string>();
  for (;;) {
    const views = (await Promise.all(ids.map((id) => client.rollout(id)))) as unknown as NamedRolloutView[];
    if (!g.json) {
      for (const v of views) {
        for (const st of v.steps) {
          const line = `${v.service}  ${stepLine(st)}`;
          if (!seen.has(line)) process.stdout.write(`${line}\n`);
          seen.add(line);
        }
      }
    }
    if (views.every(settled)) return views;
    if (Date.now() > deadline)
      throw new CLIError(
        'TIMEOUT',
        `Rollout still in progress after ${timeoutSeconds} s`,
        `follow it with: ${follow}; wait longer with --timeout (0: no limit)`,
      );
    await sleep(1000);
  }
}

/** After following: ✔ when every rollout completed, else ✘ with each that did not, and exit 6. */
function reportSettled(g: GlobalOptions, views: readonly NamedRolloutView[]): void {
  const failed = views.filter((v) => !succeeded(v));
  if (failed.length > 0) {
    if (!g.json) process.stderr.write(`✘ ${failed.map((v) => `${v.service}: ${v.status}`).join(', ')}\n`);
    process.exitCode = EXIT.unsuccessful;
  } else if (!g.json) process.stdout.write('✔ rollout complete\n');
}

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
    .option('--timeout <duration>', 'with --wait: give up after this long, e.g. 90s, 15m, 2h (0: never)', '15m')
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
                `${i.result === 'unchanged' ? '·' : '✔'} ${String(i.service)}: ${String(i.message)} (${typeof i.rollout === 'string' ? `rollout ${i.rollout}, ` : ''}release ${short(String(i.release))}, image ${String(i.image)})`,
            )
            .join('\n'),
        );
        const started = items.filter((i) => i.result === 'started' && typeof i.rollout === 'string');
        if (started.length === 1) hint(g, `fixity run wait ${String(started[0]?.rollout)}`);
        else if (started.length > 1) hint(g, `fixity rollout status ${name}`);
        return;
      }
      const ids = [...new Set(items.map((i) => i.rollout).filter((r): r is string => typeof r === 'string'))];
      const views = await followRollouts(g, client, ids, timeout, `fixity rollout status ${name}`);
      if (g.json) emit(g, 'EnvironmentStatus', await client.rolloutStatus(name, opts.service), () => '');
      reportSettled(g, views);
    });

  const run = program
    .command('run')
    .description('a rollout that deploy or rollback started, by its id: show it, or wait until it settles');
  run
    .command('show')
    .description('where the rollout stands: environment, service, status, strategy and its newest steps')
    .argument('<id>', 'the rollout id deploy or rollback printed')
    .action(async (id: string) => {
      const g = globals();
      const view = (await resolveClient(g).client.rollout(id)) as unknown as NamedRolloutView;
      emit(g, 'Rollout', view, () => [`${view.environment}/${view.service}`, ...rolloutLines(view, 50)].join('\n'));
    });
  run
    .command('wait')
    .description('follow the rollout, each step as it happens, until it completes (exit 0) or not (exit 6)')
    .argument('<id>', 'the rollout id deploy or rollback printed')
    .option('--timeout <duration>', 'give up after this long, e.g. 90s, 15m, 2h (0: never)', '15m')
    .addHelpText(
      'after',
      "\nExamples:\n  fixity deploy staging --json | jq -r '.items[].rollout // empty'\n  fixity run wait Jk3aB9xQ2lM0pZrT7uVwAg --timeout 20m\n\nExit 6 when the rollout was rolled back or aborted, 5 when --timeout passes (the rollout goes on).",
    )
    .action(async (id: string, opts: { timeout: string }) => {
      const g = globals();
      const timeout = parseDurationFlag(opts.timeout, '--timeout');
      const [view] = await followRollouts(g, resolveClient(g).client, [id], timeout, `fixity run show ${id}`);
      if (view === undefined) return;
      if (g.json) emit(g, 'Rollout', view, () => '');
      reportSettled(g, [view]);
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
    .option('--exit-code', 'as diff(1): exit 1 when an instance has drifted, 0 when none, 2 or more on errors')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity drift staging\n  fixity drift production --exit-code || page-oncall\n\nWithout --exit-code a drift is a finding, not an error: exit 0. A drifted instance is replaced by the\nserver on its own (every --drift-interval of fixity serve); the report also lists what it recorded.',
    )
    .action(async (name: string, opts: { exitCode?: boolean }) => {
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
      if (opts.exitCode === true && report.checked.some((c) => c.findings.length > 0)) process.exitCode = EXIT.failed;
    });
}
