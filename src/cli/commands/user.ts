import type { Command } from 'commander';
import type { APIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { CLIError, emit, type GlobalOptions, table, when } from '../output.ts';

type RoleGrantInput = Parameters<APIClient['grantRole']>[1];
type RoleBindingView = Awaited<ReturnType<APIClient['grantRole']>>['binding'];

const ROLE_HELP = 'viewer | builder | approver | releaser | admin';

/** `approver:stage=staging:repo=shop/*` → a role grant; each `stage=`/`repo=` adds a pattern. */
export function parseRoleSpec(spec: string): RoleGrantInput {
  const [role = '', ...parts] = spec.split(':');
  const stages: string[] = [];
  const repos: string[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (eq < 1 || value === '' || (key !== 'stage' && key !== 'repo')) {
      throw new CLIError(
        'USAGE',
        `Cannot read role "${spec}": "${part}" is not stage=GLOB or repo=GLOB`,
        'write ROLE[:stage=GLOB][:repo=GLOB], e.g. approver:stage=staging',
      );
    }
    (key === 'stage' ? stages : repos).push(value);
  }
  return { role, ...(stages.length > 0 ? { stages } : {}), ...(repos.length > 0 ? { repos } : {}) };
}

const scopeText = (b: Pick<RoleBindingView, 'role' | 'stages' | 'repos'>) =>
  [b.role, ...(b.stages ?? []).map((s) => `stage=${s}`), ...(b.repos ?? []).map((r) => `repo=${r}`)].join(':');

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addUserCommands(program: Command, globals: () => GlobalOptions): void {
  const user = program
    .command('user')
    .description('manage users and service accounts and their roles (admin)')
    .addHelpText(
      'after',
      [
        '',
        `Roles: ${ROLE_HELP}, each optionally scoped to stages and repositories (glob patterns).`,
        'A role scoped to stages only covers actions on a matching stage; likewise for repositories.',
        '',
        'Examples:',
        '  fixity user create alice --role approver:stage=staging --role viewer',
        '  fixity user create ci --service --role builder:repo=apps/**',
        '  fixity user grant alice releaser --stage "prod-*"',
        '  fixity token create --user alice --name laptop --scope admin --expires 30d',
      ].join('\n'),
    );

  user
    .command('create')
    .description('create a user (or with --service a service account), optionally with roles')
    .argument('<name>', '1-64 letters, digits, . _ @ -')
    .option('--service', 'a service account (for automation) rather than a person')
    .option('--role <spec>', 'ROLE[:stage=GLOB][:repo=GLOB], repeatable', collect, [])
    .action(async (name: string, opts: { service?: boolean; role: string[] }) => {
      const g = globals();
      const created = await resolveClient(g).client.createUser({
        name,
        kind: opts.service ? 'service' : 'user',
        roles: opts.role.map(parseRoleSpec),
      });
      emit(g, 'Principal', { principal: created }, () =>
        [
          `✔ created ${created.kind === 'service' ? 'service account' : 'user'} ${created.name} (${created.id})`,
          ...created.roles.map((b) => `  role ${scopeText(b)}`),
          `  next: fixity token create --user ${created.name} --name NAME --scope SCOPES`,
        ].join('\n'),
      );
    });

  user
    .command('list')
    .description('list users and service accounts with their roles')
    .action(async () => {
      const g = globals();
      const items = await resolveClient(g).client.listUsers();
      emit(g, 'PrincipalList', { items }, () =>
        table([
          ['NAME', 'KIND', 'ROLES', 'CREATED', 'STATUS'],
          ...items.map((p) => [
            p.name,
            p.kind,
            p.roles.map(scopeText).join(' ') || '-',
            when(p.createdAt),
            p.disabledAt === null ? 'active' : 'disabled',
          ]),
        ]),
      );
    });

  user
    .command('whoami')
    .description('show who the current token belongs to, its roles and its scopes')
    .action(async () => {
      const g = globals();
      const me = await resolveClient(g).client.whoami();
      emit(g, 'Whoami', me, () =>
        [
          `${me.principal.name} (${me.principal.kind})${me.admin ? ', admin' : ''}`,
          `  roles: ${me.roles.map(scopeText).join(' ') || '-'}`,
          ...(me.token === null
            ? []
            : [`  token: ${me.token.name} ${me.token.scopes.join(',')} on ${me.token.repos.join(' ')}`]),
        ].join('\n'),
      );
    });

  user
    .command('grant')
    .description('grant a role, optionally scoped to stages and repositories; takes effect at once')
    .argument('<name>', 'user or service account')
    .argument('<role>', ROLE_HELP)
    .option('--stage <glob>', 'stage pattern, repeatable (default: every stage)', collect)
    .option('--repo <glob>', 'repository pattern, repeatable (default: every repository)', collect)
    .action(async (name: string, role: string, opts: { stage?: string[]; repo?: string[] }) => {
      const g = globals();
      const grant: RoleGrantInput = {
        role,
        ...(opts.stage === undefined ? {} : { stages: opts.stage }),
        ...(opts.repo === undefined ? {} : { repos: opts.repo }),
      };
      const result = await resolveClient(g).client.grantRole(name, grant);
      emit(g, 'RoleBinding', { principal: name, ...result }, () =>
        result.created
          ? `✔ granted ${scopeText(result.binding)} to ${name}`
          : `✔ ${name} already holds ${scopeText(result.binding)}; nothing changed`,
      );
    });

  user
    .command('revoke')
    .description('revoke a role (every binding of it, or only the one with exactly these scopes); at once')
    .argument('<name>', 'user or service account')
    .argument('<role>', ROLE_HELP)
    .option('--stage <glob>', 'only the binding with these stage patterns, repeatable', collect)
    .option('--repo <glob>', 'only the binding with these repository patterns, repeatable', collect)
    .action(async (name: string, role: string, opts: { stage?: string[]; repo?: string[] }) => {
      const g = globals();
      const revoked = await resolveClient(g)
        .client.revokeRole(name, role, {
          ...(opts.stage === undefined ? {} : { stages: opts.stage }),
          ...(opts.repo === undefined ? {} : { repos: opts.repo }),
        })
        .catch((err: unknown) => {
          if ((err as { code?: string }).code === 'NOT_FOUND')
            throw new CLIError('FAILED', (err as Error).message, `see the roles with \`fixity user list\``);
          throw err;
        });
      emit(g, 'RoleRevocation', { principal: name, revoked }, () =>
        revoked.map((b) => `✔ revoked ${scopeText(b)} from ${name}`).join('\n'),
      );
    });

  user
    .command('disable')
    .description('disable a user or service account: every token of it stops working at once')
    .argument('<name>', 'user or service account')
    .action(async (name: string) => {
      const g = globals();
      const disabled = await resolveClient(g).client.disableUser(name);
      emit(g, 'Principal', { principal: disabled }, () => `✔ disabled ${disabled.name}; its tokens no longer work`);
    });
}
