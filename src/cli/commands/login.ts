import type { Command } from 'commander';
import { createAPIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import {
  checkContextName,
  forgetHost,
  hostsFile,
  normalizeServer,
  readHosts,
  saveHost,
  serverOfContext,
  useHost,
} from '../credentials.ts';
import { CLIError, emit, type GlobalOptions, hint, table } from '../output.ts';
import { askSecret, canPrompt } from '../prompt.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** `fixity login` and `fixity logout`: tokens kept per server in the user's config (credentials.ts). */
export function addLoginCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('login')
    .description('check a token against a server and save it: later commands to that server send it')
    .argument('[server]', 'server URL (default: the server commands use now)')
    .option('--with-token', 'read the token from stdin instead of asking for it (as gh auth login does)')
    .option('--token-stdin', 'the same as --with-token (as docker login --password-stdin)')
    .option('--name <name>', 'a short name to pick this server by later: fixity context use NAME, --context NAME')
    .addHelpText(
      'after',
      [
        '',
        'The token comes from --token, from stdin with --with-token, or is asked for on a terminal (not',
        'echoed). It is checked first (exit 4 when the server refuses it), then saved for that server in',
        '$XDG_CONFIG_HOME/fixity/hosts.json (mode 0600), and the server becomes the default.',
        '',
        'Examples:',
        '  fixity login https://fixity.example.com',
        '  echo "$FIXITY_CI_TOKEN" | fixity login https://fixity.example.com --with-token',
      ].join('\n'),
    )
    .action(
      async (serverArg: string | undefined, opts: { withToken?: boolean; tokenStdin?: boolean; name?: string }) => {
        const g = globals();
        const server = normalizeServer(serverArg ?? resolveClient(g).server);
        const token =
          opts.withToken === true || opts.tokenStdin === true
            ? await readStdin()
            : (g.token ?? (canPrompt() ? await askSecret(`Token for ${server}: `) : null));
        if (token === null || token === '') {
          throw new CLIError(
            'USAGE',
            `Cannot log in to ${server} without a token: none was given and this run cannot ask`,
            `pipe it in: echo "$TOKEN" | fixity login ${server} --with-token`,
          );
        }
        const name = opts.name === undefined ? undefined : checkContextName(opts.name);
        const me = await createAPIClient({ server, token }).whoami();
        await saveHost(server, token, me.principal.name, name === undefined ? {} : { name });
        const result = { server, user: me.principal.name, admin: me.admin, file: hostsFile() };
        emit(
          g,
          'Login',
          result,
          () =>
            `✔ logged in to ${server} as ${me.principal.name}${me.admin ? ' (admin)' : ''}\n  saved in ${result.file}`,
        );
        hint(g, 'fixity doctor');
      },
    );

  program
    .command('logout')
    .description('forget the token saved for a server')
    .argument('[server]', 'server URL (default: the server commands use now)')
    .action(async (serverArg: string | undefined) => {
      const g = globals();
      const server = normalizeServer(serverArg ?? resolveClient(g).server);
      const removed = await forgetHost(server);
      emit(g, 'Logout', { server, removed }, () =>
        removed ? `✔ logged out of ${server}` : `no token was saved for ${server}`,
      );
    });

  const context = program
    .command('context')
    .description('the servers fixity login saved: list them, pick the one commands use (as kubectl contexts)');
  context
    .command('list')
    .description('every saved server, its name, who its token belongs to; * marks the current one')
    .action(() => {
      const g = globals();
      const saved = readHosts();
      const items = Object.entries(saved.hosts).map(([server, h]) => ({
        name: h.name ?? null,
        server,
        user: h.user,
        current: server === saved.current,
      }));
      emit(g, 'ContextList', { items }, () =>
        items.length === 0
          ? 'no servers saved yet (fixity login URL --name NAME)'
          : table([
              ['CURRENT', 'NAME', 'SERVER', 'USER'],
              ...items.map((c) => [c.current ? '*' : '', c.name ?? '-', c.server, c.user]),
            ]),
      );
    });
  context
    .command('use')
    .description('make a saved server the one commands use when nothing else names one')
    .argument('<context>', 'its name (fixity login --name) or its URL')
    .action(async (name: string) => {
      const g = globals();
      const saved = readHosts();
      const server = /^https?:\/\//.test(name) ? normalizeServer(name) : serverOfContext(saved, name);
      if (saved.hosts[server] === undefined)
        throw new CLIError('USAGE', `Cannot use ${server}: no token is saved for it`, `fixity login ${server}`);
      await useHost(server);
      emit(g, 'Context', { name: saved.hosts[server]?.name ?? null, server }, () => `✔ commands now go to ${server}`);
    });
}
