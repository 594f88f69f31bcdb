/**
 * `fixity env apply|list|show|delete`: environments as the server stores them, one version per apply, and
 * their deletion, which stops every service and closes its routers after the environment name is typed.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EnvironmentDeletionView } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { emit, type GlobalOptions, hint, table } from '../output.ts';
import { confirmByName, unlessNotFound } from '../prompt.ts';
import { short } from './deploy.ts';

/** What deleting an environment removed, one line per service, and what is still being removed. */
export function renderDeletion(d: EnvironmentDeletionView): string {
  return [
    `✔ deleted environment ${d.environment} (version ${d.version}, stage ${d.stage})`,
    ...d.services.map((s) => {
      const stopped = `${s.instances.length} instance(s) stopped`;
      const router = s.router === null ? 'no router open' : `router ${s.router} closed`;
      return `  - ${s.service}: ${stopped}, ${router}${s.release === null ? '' : ` (was serving ${short(s.release)})`}`;
    }),
    ...d.abortedRollouts.map((id) => `  - rollout ${id} aborted`),
    ...(d.complete ? [] : [`◷ still being removed: ${d.remaining.join(', ')} (the reconciler goes on with it)`]),
  ].join('\n');
}

export function addEnvCommands(program: Command, globals: () => GlobalOptions): void {
  const env = program.command('env').description('environments: services, replicas, health checks and strategies');
  env
    .command('apply')
    .description('validate and store an environment YAML as a new version (recorded in the ledger)')
    .argument('<file>', 'environment.yaml (schema: schema/environment.schema.json)')
    .action(async (file: string) => {
      const g = globals();
      const applied = await resolveClient(g).client.applyEnvironment(await readFile(file, 'utf8'));
      emit(g, 'EnvironmentVersion', applied, () =>
        applied.changed
          ? `✔ environment ${String(applied.name)} version ${String(applied.version)} (${String(applied.digest)})`
          : `✔ environment ${String(applied.name)} unchanged at version ${String(applied.version)}`,
      );
      if (applied.changed) hint(g, `fixity deploy ${String(applied.name)} --dry-run`);
    });
  env
    .command('list')
    .description('every environment with its stage and version')
    .action(async () => {
      const g = globals();
      const items = await resolveClient(g).client.environments();
      emit(g, 'EnvironmentList', { items }, () =>
        items.length === 0
          ? 'no environments yet (fixity env apply FILE)'
          : table([
              ['NAME', 'STAGE', 'VERSION', 'APPLIED BY'],
              ...items.map((e) => [
                String(e.name),
                String((e.spec as { stage?: string }).stage),
                String(e.version),
                String(e.appliedBy),
              ]),
            ]),
      );
    });
  env
    .command('show')
    .description('print the current version of an environment and its YAML')
    .argument('<env>')
    .action(async (name: string) => {
      const g = globals();
      const current = await resolveClient(g).client.environment(name);
      emit(
        g,
        'Environment',
        current,
        () => `# version ${String(current.version)} ${String(current.digest)}\n${String(current.yaml)}`,
      );
    });
  env
    .command('delete')
    .description('stop every service of an environment, then delete it (recorded in the ledger)')
    .argument('<env>')
    .option('--force', 'delete even while a rollout is in progress (it is aborted)')
    .option('--yes', 'do not ask to type the environment name')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity env delete preview-42\n  fixity env delete staging --force --yes --json\n\nAsks to type the environment name first (--yes skips; exit 2 where nobody can be asked).\nExit 6 while a rollout is in progress (fixity rollout abort ENV SERVICE, or --force).',
    )
    .action(async (name: string, opts: { force?: boolean; yes?: boolean }) => {
      const g = globals();
      const { client } = resolveClient(g);
      const current = await unlessNotFound(client.environment(name));
      if (current !== null) {
        const { stage, services } = current.spec as { stage: string; services: Array<{ name: string }> };
        await confirmByName({
          yes: opts.yes,
          action: `delete environment ${name}`,
          name,
          detail: [
            `Environment ${name} (stage ${stage}): every instance of ${services.length === 0 ? 'its services' : services.map((s) => s.name).join(', ')} is stopped and its routers closed.`,
          ],
        });
      }
      const deleted = await client.deleteEnvironment(name, opts.force === true);
      emit(g, 'EnvironmentDeletion', deleted, () => renderDeletion(deleted));
    });
}
