import type { Command } from 'commander';
import type { GlobalOptions } from './output.ts';

type AddCommands = (program: Command, globals: () => GlobalOptions) => void;

interface CommandModule {
  /** The top-level commands (and aliases) the module adds. */
  readonly names: readonly string[];
  /** Whether its commands need every other command added too (completion walks the whole tree). */
  readonly needsAll?: true;
  readonly load: () => Promise<AddCommands>;
}

/**
 * The modules of commands/ with the top-level commands each adds, in the order `fixity --help` lists them.
 * A run loads only the module of the command it names: loading them all cost every command a tenth of a
 * second, as much as Node's own start. command-modules.test.ts checks the names against what each module adds.
 */
export const COMMAND_MODULES: readonly CommandModule[] = [
  { names: ['build'], load: async () => (await import('./commands/build.ts')).addBuildCommand },
  { names: ['cache'], load: async () => (await import('./commands/cache.ts')).addCacheCommands },
  { names: ['inspect'], load: async () => (await import('./commands/inspect.ts')).addInspectCommand },
  { names: ['key'], load: async () => (await import('./commands/key.ts')).addKeyCommands },
  { names: ['sign', 'attest'], load: async () => (await import('./commands/sign.ts')).addSignCommands },
  { names: ['verify'], load: async () => (await import('./commands/verify.ts')).addVerifyCommand },
  { names: ['ledger'], load: async () => (await import('./commands/ledger.ts')).addLedgerCommands },
  { names: ['audit'], load: async () => (await import('./commands/audit.ts')).addAuditCommands },
  {
    names: ['pipeline', 'promote', 'status', 'approve', 'veto', 'hold', 'unhold'],
    load: async () => (await import('./commands/release.ts')).addReleaseCommands,
  },
  { names: ['env'], load: async () => (await import('./commands/env.ts')).addEnvCommands },
  {
    names: ['deploy', 'run', 'rollout', 'rollback', 'drift'],
    load: async () => (await import('./commands/deploy.ts')).addDeployCommands,
  },
  {
    names: ['login', 'logout', 'context'],
    load: async () => (await import('./commands/login.ts')).addLoginCommands,
  },
  { names: ['token'], load: async () => (await import('./commands/token.ts')).addTokenCommands },
  { names: ['user'], load: async () => (await import('./commands/user.ts')).addUserCommands },
  { names: ['gc'], load: async () => (await import('./commands/gc.ts')).addGcCommand },
  { names: ['doctor'], load: async () => (await import('./commands/doctor.ts')).addDoctorCommand },
  {
    names: ['completion', '__complete'],
    needsAll: true,
    load: async () => (await import('./commands/completion.ts')).addCompletionCommand,
  },
  { names: ['config'], load: async () => (await import('./commands/config.ts')).addConfigCommands },
];

/**
 * The command `args` (argv after the script) names: the first argument that is neither an option nor the
 * value of one of `valueOptions` (the global options that take a value, e.g. `--context NAME`). Null when
 * there is none, or after `--`.
 */
export function commandName(args: readonly string[], valueOptions: ReadonlySet<string>): string | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return null;
    if (valueOptions.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return null;
}

/**
 * What to add to the program for command `name`: its module alone; nothing for a command the program has
 * already (`builtIn`); every module for help, completion, no command or an unknown one (so that help lists
 * them all and a typo gets its suggestion).
 */
export async function commandsFor(name: string | null, builtIn: ReadonlySet<string>): Promise<AddCommands[]> {
  const own = name === null ? undefined : COMMAND_MODULES.find((m) => m.names.includes(name));
  if (own !== undefined && own.needsAll !== true) return [await own.load()];
  if (name !== null && builtIn.has(name)) return [];
  return Promise.all(COMMAND_MODULES.map((m) => m.load()));
}
