/**
 * `fixity config view`: the settings a command would use now, and with `--show-origin` where each came from
 * (flag, env, data dir, project file, login, default), as `git config --show-origin` does. The token is never shown, only
 * whether there is one and where it came from.
 */
import type { Command } from 'commander';
import { credentialSources, dataDirOf, type Sourced, serverWithOrigin, tokenWithOrigin } from '../context.ts';
import { configDir } from '../ledger-pin.ts';
import { emit, type GlobalOptions, table } from '../output.ts';
import { buildCacheDir } from './cache.ts';

const fromEnv = (...names: string[]): Sourced<string>['origin'] =>
  names.some((n) => process.env[n] !== undefined && process.env[n] !== '') ? 'env' : 'default';

export function addConfigCommands(program: Command, globals: () => GlobalOptions): void {
  const config = program.command('config').description('show the settings commands use, and where each comes from');
  config
    .command('view')
    .description('the server, token, data dir, config dir and build cache a command would use now')
    .option('--show-origin', 'say where each setting came from: flag, env, data dir, project, login or default')
    .addHelpText('after', '\nExamples:\n  fixity config view --show-origin\n  fixity config view -o json')
    .action((opts: { showOrigin?: boolean }) => {
      const g = globals();
      const sources = credentialSources(g);
      const server = serverWithOrigin(sources);
      const token = tokenWithOrigin(sources, server.value);
      const view = {
        server,
        token: { set: token !== null, origin: token?.origin ?? null },
        dataDir: dataDirOf(g),
        configDir: { value: configDir(), origin: fromEnv('FIXITY_CONFIG_DIR', 'XDG_CONFIG_HOME') },
        buildCache: { value: buildCacheDir(), origin: fromEnv('XDG_CACHE_HOME') },
        projectFile: sources.project?.path ?? null,
      };
      const rows: Array<[string, string, string]> = [
        ['server', server.value, server.origin],
        ['token', token === null ? 'none' : 'set (never shown)', token?.origin ?? '-'],
        ['data dir', view.dataDir.value, view.dataDir.origin],
        ['config dir', view.configDir.value, view.configDir.origin],
        ['build cache', view.buildCache.value, view.buildCache.origin],
        ['project file', view.projectFile ?? 'none', view.projectFile === null ? '-' : 'found'],
      ];
      emit(g, 'Config', view, () =>
        table(opts.showOrigin === true ? [['SETTING', 'VALUE', 'ORIGIN'], ...rows] : rows.map(([k, v]) => [k, v])),
      );
    });
}
