import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ServerFlags } from '../../main.ts';
import { runDemo } from '../demo.ts';
import { emit, type GlobalOptions } from '../output.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addServerFlags(cmd: Command): Command {
  return cmd
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:7070)')
    .option('--db <url>', 'PostgreSQL URL (postgres://…); SQLite in the data dir when absent')
    .option('--db-schema <name>', 'PostgreSQL schema to use')
    .option('--public-url <url>', 'URL clients reach this server at (for token challenges)')
    .option('--immutable <rule>', 'immutable tags: REPOS or REPOS:TAGS glob, e.g. "prod/**" (repeatable)', collect)
    .option('--anonymous-pull <pattern>', 'let anonymous clients pull matching repositories (repeatable)', collect)
    .option('--max-manifest-bytes <n>', 'largest manifest accepted (default 4 MiB)')
    .option('--gc-grace <duration>', 'keep unreferenced blobs this long before collecting (default 1h)')
    .option(
      '--drift-interval <duration>',
      'check every instance for drift this often, and replace what drifted (default 2s)',
    )
    .option('--log-level <level>', 'pino log level (default info)');
}

/** Runs the server in the foreground until SIGINT/SIGTERM. */
export async function runServe(
  flags: ServerFlags & GlobalOptions,
  options: { banner: boolean; demo?: boolean },
): Promise<void> {
  // `fixity up` prints its own progress; the server's info lines would interleave with it.
  const logLevel = flags.logLevel ?? (options.banner ? 'warn' : undefined);
  // Loaded here, not at the top: every other command would otherwise pay for the whole server at start-up.
  const { loadServerConfig, startServer } = await import('../../main.ts');
  const config = loadServerConfig({
    ...flags,
    ...(flags.data === undefined ? {} : { data: flags.data }),
    ...(logLevel === undefined ? {} : { logLevel }),
  });
  // Handlers first: a signal that arrives while the server is starting must still shut it down cleanly.
  const signalled = new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const server = await startServer(config);
  const token = (await readFile(server.adminTokenFile, 'utf8')).trim();
  if (options.banner) {
    const say = (line: string) => {
      if (!flags.json) process.stdout.write(`${line}\n`);
    };
    say(`✔ Fixity is up at ${server.url}`);
    let demo: { routerUrl: string | null } | { error: string } | null = null;
    if (options.demo) {
      demo = await runDemo({ url: server.url, tokenFile: server.adminTokenFile, dataDir: config.dataDir, say }).catch(
        (err: Error) => ({ error: err.message }),
      );
    }
    const registry = server.url.replace(/^https?:\/\//, '');
    emit(
      flags,
      'Server',
      { url: server.url, dataDir: config.dataDir, adminTokenFile: server.adminTokenFile, demo },
      () =>
        [
          '',
          `  server     ${server.url}`,
          `  data       ${config.dataDir} (${config.databaseUrl === null ? 'SQLite' : 'PostgreSQL'})`,
          `  token      ${token.slice(0, 8)}… (full token in ${server.adminTokenFile})`,
          `  registry   ${registry}/<repo>:<tag>   (user: anything, password: the token)`,
          `  dashboard  ${server.url}/   (paste the token; or open ${server.url}/#token=… once)`,
          ...(demo === null
            ? []
            : 'error' in demo
              ? [
                  '',
                  `✘ the demo stopped: ${demo.error}`,
                  '  the server keeps running; see the README to do each step by hand',
                ]
              : [
                  `  hello      ${demo.routerUrl ?? '(router starting)'}   ← 3 replicas of v1, a canary of v2 at 25%`,
                  '',
                  'Try next:',
                  `  for i in $(seq 20); do curl -s ${demo.routerUrl ?? 'ROUTER'}; done     # v1 and v2 answer`,
                  '  npx fixity rollout status staging hello          # weights, steps, instances',
                  `  while sleep 0.05; do curl -s ${demo.routerUrl ?? 'ROUTER'} >/dev/null; done &   # traffic for the analysis`,
                  '  npx fixity rollout resume staging hello          # approve the pause: analysis, then 100%',
                  '  npx fixity rollback staging hello                # or back to v1 (holds auto-promotion)',
                  '  npx fixity audit report                          # who built, signed, promoted, deployed',
                ]),
          '',
          'Stop with Ctrl-C or `fixity down` (instances stop with the server).',
        ].join('\n'),
    );
  }
  await signalled;
  await server.stop();
}
