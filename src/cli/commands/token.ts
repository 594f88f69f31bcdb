import type { Command } from 'commander';
import { parseDuration } from '../../main.ts';
import { resolveClient } from '../context.ts';
import { CLIError, emit, type GlobalOptions, table } from '../output.ts';

export function addTokenCommands(program: Command, globals: () => GlobalOptions): void {
  const token = program.command('token').description('create, list and revoke access tokens');
  token
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--name <name>', 'a name that shows up as the actor in events')
    .option('--scope <scopes>', 'comma-separated: pull, push, delete, admin', 'pull')
    .option('--repo <pattern...>', 'repository patterns the scopes apply to (* one segment, ** any)', ['**'])
    .option('--expires <duration>', 'lifetime, e.g. 30d or 12h (default: no expiry)')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity token create --name ci --scope pull,push --repo "apps/**"\n  fixity token create --name reader --scope pull --repo "public/*" --expires 30d',
    )
    .action(async (opts: { name: string; scope: string; repo: string[]; expires?: string }) => {
      const g = globals();
      const { client } = resolveClient(g);
      const scopes = opts.scope
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const created = await client.createToken({
        name: opts.name,
        scopes,
        repos: opts.repo,
        ...(opts.expires === undefined ? {} : { expiresInSeconds: parseDuration(opts.expires) }),
      });
      emit(g, 'Token', created, () =>
        [
          `✔ created token ${created.id} (${created.name}): ${created.scopes.join(',')} on ${created.repos.join(' ')}`,
          '',
          created.secret,
          '',
          'Store it now: Fixity keeps only its hash.',
        ].join('\n'),
      );
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(async () => {
      const g = globals();
      const items = await resolveClient(g).client.listTokens();
      emit(g, 'TokenList', { items }, () =>
        table([
          ['ID', 'NAME', 'SCOPES', 'REPOS', 'CREATED', 'EXPIRES', 'STATUS'],
          ...items.map((t) => [
            t.id,
            t.name,
            t.scopes.join(','),
            t.repos.join(' '),
            t.createdAt,
            t.expiresAt ?? '-',
            t.revokedAt ? 'revoked' : 'active',
          ]),
        ]),
      );
    });
  token
    .command('revoke')
    .description('revoke a token by id; it stops working at once')
    .argument('<id>', 'token id (from fixity token list)')
    .action(async (id: string) => {
      const g = globals();
      try {
        await resolveClient(g).client.revokeToken(id);
      } catch (err) {
        if ((err as { code?: string }).code === 'NOT_FOUND')
          throw new CLIError(
            'FAILED',
            `Cannot revoke token "${id}": no active token has that id`,
            'list tokens with `fixity token list`',
          );
        throw err;
      }
      emit(g, 'TokenRevocation', { id, revoked: true }, () => `✔ revoked token ${id}`);
    });
}
