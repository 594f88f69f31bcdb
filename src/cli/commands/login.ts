import type { Command } from 'commander';
import { createAPIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { forgetHost, hostsFile, normalizeServer, saveHost } from '../credentials.ts';
import { CLIError, emit, type GlobalOptions, hint } from '../output.ts';
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
    .action(async (serverArg: string | undefined, opts: { withToken?: boolean; tokenStdin?: boolean }) => {
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
      const me = await createAPIClient({ server, token }).whoami();
      await saveHost(server, token, me.principal.name);
      const result = { server, user: me.principal.name, admin: me.admin, file: hostsFile() };
      emit(
        g,
        'Login',
        result,
        () =>
          `✔ logged in to ${server} as ${me.principal.name}${me.admin ? ' (admin)' : ''}\n  saved in ${result.file}`,
      );
      hint(g, 'fixity doctor');
    });

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
}
