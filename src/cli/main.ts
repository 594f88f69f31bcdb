// fixity: the command-line interface. Commands stay thin: flags → library options → call → render.
import './threadpool.ts';
import { Command, CommanderError } from 'commander';
import { VERSION } from '../defaults.ts';
import { commandName, commandsFor } from './command-modules.ts';
import { runDown } from './commands/down.ts';
import { addServerFlags, runServe } from './commands/serve.ts';
import { resolveClient } from './context.ts';
import { wantsDebug, writeDebugLog } from './debug-log.ts';
import { HELP_TOPICS } from './help-topics.ts';
import {
  absoluteTimes,
  asciiOutput,
  CLIError,
  EXIT,
  emit,
  type GlobalOptions,
  OUTPUT_FORMATS,
  type OutputFormat,
  reportError,
  wantsAscii,
} from './output.ts';
import { PROGRESS_MODES } from './progress.ts';

// `fixity … | head` closes stdout early: stop quietly, as other command-line tools do, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('fixity')
  .description('Build once, deploy many, never mutate.')
  .option('--json', 'print one JSON document on stdout (the same as -o json)')
  .option('-o, --output <format>', 'text, json, yaml, name or jsonl (fixity help output)')
  .option('--server <url>', "Fixity server URL (env FIXITY_SERVER; default: the data dir's, else the last login)")
  .option(
    '--token <token>',
    'access token (env FIXITY_TOKEN; default: the one fixity login saved, else DATA/admin.token)',
  )
  .option('--data <dir>', 'data directory (env FIXITY_DATA; default ./.fixity)')
  .option('--context <context>', 'a server saved by fixity login --name (env FIXITY_CONTEXT)')
  .option('--progress <mode>', 'auto, tty, plain, json or quiet (env FIXITY_PROGRESS; fixity help progress)')
  .option('--utc', 'absolute RFC 3339 UTC times in text output, also on a terminal (env FIXITY_UTC=1)')
  .option('--debug', 'on failure, write a debug log (stack traces, versions) and print its path (env FIXITY_DEBUG=1)')
  .option('--ascii', 'symbols as ASCII words in text output, e.g. [ok] (env FIXITY_ASCII=1; so in a non-UTF-8 locale)')
  .version(VERSION, '-V, --version', 'print the version')
  .showSuggestionAfterError()
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

/** The global options, with `-o` checked and `--json` folded into it (`json` is set for every machine format). */
const globals = (): GlobalOptions => {
  const o = program.opts<Omit<GlobalOptions, 'output'> & { output?: string }>();
  const output = o.json ? 'json' : (o.output ?? 'text');
  if (o.progress !== undefined && !(PROGRESS_MODES as readonly string[]).includes(o.progress))
    throw new CLIError(
      'USAGE',
      `Cannot show progress as "${o.progress}": the modes are ${PROGRESS_MODES.join(', ')}`,
      'fixity help progress',
    );
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output))
    throw new CLIError(
      'USAGE',
      `Cannot print as "${output}": the formats are ${OUTPUT_FORMATS.join(', ')}`,
      'fixity help output',
    );
  if (o.utc === true) absoluteTimes();
  return { ...o, output: output as OutputFormat, json: output !== 'text' };
};

/** Whether this run asked for a machine format, read off argv (also when parsing itself failed). */
const machineOutput = (argv: readonly string[]): boolean =>
  argv.some(
    (a, i) =>
      a === '--json' || ((a === '-o' || a === '--output') && argv[i + 1] !== 'text') || /^--output=(?!text$)/.test(a),
  );

addServerFlags(
  program
    .command('serve')
    .description('serve the registry, token flow, JSON API and metrics')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity serve --data /var/lib/fixity --listen 0.0.0.0:7070\n  fixity serve --db postgres://fixity@db/fixity --immutable "prod/**"',
    ),
).action(async (flags) => runServe({ ...globals(), ...flags }, { banner: false }));

addServerFlags(
  program
    .command('up')
    .description('run Fixity on embedded defaults in ./.fixity, with the demo: build, sign, promote, a live canary')
    .option('--no-demo', 'only start the server'),
).action(async (flags: { demo: boolean }) => runServe({ ...globals(), ...flags }, { banner: true, demo: flags.demo }));

program
  .command('down')
  .description('stop the server that `fixity up` started')
  .action(async () => runDown(globals()));

// Only the module of the command this run names is loaded (command-modules.ts).
const valueOptions = new Set(
  program.options
    .filter((o) => o.required || o.optional)
    .flatMap((o) => [o.short, o.long].filter((f) => f !== undefined)),
);
const builtIn = new Set(['serve', 'up', 'down', 'version']);
for (const add of await commandsFor(commandName(process.argv.slice(2), valueOptions), builtIn)) add(program, globals);

program
  .command('version')
  .description("print this CLI's version, and the server's when one answers within half a second")
  .action(async () => {
    const g = globals();
    const { client, server } = resolveClient(g);
    const answered = await Promise.race([
      client.status().catch(() => null),
      new Promise<null>((done) => setTimeout(() => done(null), 500).unref()),
    ]);
    const remote = answered === null ? null : { url: server, version: answered.version };
    emit(
      g,
      'Version',
      { version: VERSION, node: process.versions.node, server: remote },
      () =>
        `fixity ${VERSION} (node ${process.versions.node})${remote === null ? '' : `\nserver ${remote.version} at ${remote.url}`}`,
    );
  });

program.helpCommand(false);
program
  .command('help')
  .description(`help for a command, or a topic: ${Object.keys(HELP_TOPICS).join(', ')}`)
  .argument('[topic...]', 'a command (env delete) or a topic (output)')
  .action((topic: string[]) => {
    const text = topic.length === 1 ? HELP_TOPICS[topic[0]!] : undefined;
    if (text !== undefined) {
      process.stdout.write(`${text}\n`);
      return;
    }
    let command: Command = program;
    for (const name of topic) {
      const next = command.commands.find((c) => c.name() === name || c.aliases().includes(name));
      if (next === undefined)
        throw new CLIError(
          'USAGE',
          `No help for "${topic.join(' ')}": it is neither a command nor a topic`,
          `the topics are ${Object.keys(HELP_TOPICS).join(', ')}; fixity --help lists the commands`,
        );
      command = next;
    }
    command.outputHelp();
  });

// Decided before parsing, so help and usage errors are ASCII too.
if (wantsAscii(process.argv, process.env) && !machineOutput(process.argv)) asciiOutput();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    let debugLog: string | null = null;
    if (wantsDebug(process.argv, process.env)) {
      try {
        debugLog = writeDebugLog(err, process.argv);
      } catch (logErr) {
        process.stderr.write(`debug log not written: ${(logErr as Error).message}\n`);
      }
    }
    const exit = reportError(err, machineOutput(process.argv), debugLog);
    // A diff-like command with --exit-code (style rule 11) says "differences" with 1, so a generic failure is 2.
    process.exitCode = exit === EXIT.failed && process.argv.includes('--exit-code') ? EXIT.usage : exit;
  }
}
