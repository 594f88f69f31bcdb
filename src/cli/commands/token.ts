import type { Command } from 'commander';
import { resolveClient } from '../context.ts';
import { parseDurationFlag } from '../flag-values.ts';
import { CLIError, emit, type GlobalOptions, table, when } from '../output.ts';

export function addTokenCommands(program: Command, globals: () => GlobalOptions): void {
  const token = program.command('token').description('create, list and revoke access tokens');
  token
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--name <name>', 'a name for the token (without --user: the service account it belongs to)')
    .option('--user <name>', 'the user or service account the token belongs to (default: see below)')
    .option('--scope <scopes>', 'comma-separated: pull, push, delete, release, admin', 'pull')
    .option('--repo <pattern...>', 'repository patterns the scopes apply to (* one segment, ** any)', ['**'])
    .option('--expires <duration>', 'lifetime, e.g. 30d or 12h (default: no expiry)')
    .addHelpText(
      'after',
      [
        '',
        'A token never does more than its scopes AND the roles of its user allow. Without --user, an admin',
        'creates a service account named after the token (with the roles its scopes imply) or reuses one of',
        'that name; anyone else creates a token for themselves, within the token they use.',
        '',
        'Examples:',
        '  fixity token create --user alice --name laptop --scope admin --expires 30d',
        '  fixity token create --name ci --scope pull,push --repo "apps/**"',
        '  fixity token create --name reader --scope pull --repo "public/*" --expires 30d',
      ].join('\n'),
    )
    .action(async (opts: { name: string; user?: string; scope: string; repo: string[]; expires?: string }) => {
      const g = globals();
      const expires =
        opts.expires === undefined ? {} : { expiresInSeconds: parseDurationFlag(opts.expires, '--expires') };
      const { client } = resolveClient(g);
      const scopes = opts.scope
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const created = await client.createToken({
        name: opts.name,
        scopes,
        repos: opts.repo,
        ...(opts.user === undefined ? {} : { principal: opts.user }),
        ...expires,
      });
      emit(g, 'Token', created, () =>
        [
          `✔ created token ${created.id} (${created.name}) for ${created.principal?.name ?? '?'}: ${created.scopes.join(',')} on ${created.repos.join(' ')}`,
          '',
          created.secret,
          '',
          'Store it now: Fixity keeps only its hash.',
        ].join('\n'),
      );
    });
  token
    .command('list')
    .description('list tokens (never their secrets): every token for admins, else your own')
    .option('--user <name>', 'only the tokens of this user or service account')
    .action(async (opts: { user?: string }) => {
      const g = globals();
      const items = await resolveClient(g).client.listTokens(opts.user);
      emit(g, 'TokenList', { items }, () =>
        table([
          ['ID', 'NAME', 'USER', 'SCOPES', 'REPOS', 'CREATED', 'EXPIRES', 'STATUS'],
          ...items.map((t) => [
            t.id,
            t.name,
            t.principal?.name ?? '-',
            t.scopes.join(','),
            t.repos.join(' '),
            when(t.createdAt),
            when(t.expiresAt),
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
            `Cannot revoke token "${id}": no active token of yours has that id`,
            'list tokens with `fixity token list`',
          );
        throw err;
      }
      emit(g, 'TokenRevocation', { id, revoked: true }, () => `✔ revoked token ${id}`);
    });
}
