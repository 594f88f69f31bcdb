import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadServerConfig, type ServerFlags, startServer } from '../../main.ts';
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
    .option('--log-level <level>', 'pino log level (default info)');
}

/** Runs the server in the foreground until SIGINT/SIGTERM. */
export async function runServe(flags: ServerFlags & GlobalOptions, options: { banner: boolean }): Promise<void> {
  const config = loadServerConfig({ ...flags, ...(flags.data === undefined ? {} : { data: flags.data }) });
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
    emit(flags, 'Server', { url: server.url, dataDir: config.dataDir, adminTokenFile: server.adminTokenFile }, () =>
      [
        `✔ Fixity is up at ${server.url}`,
        `  data       ${config.dataDir} (${config.databaseUrl === null ? 'SQLite' : 'PostgreSQL'})`,
        `  token      ${token.slice(0, 8)}… (full token in ${server.adminTokenFile})`,
        `  registry   ${server.url.replace(/^https?:\/\//, '')}/<repo>:<tag>   (user: anything, password: the token)`,
        '',
        `Next: skopeo copy --dest-creds fixity:$(cat ${server.adminTokenFile}) --dest-tls-verify=false oci:DIR:TAG docker://${server.url.replace(/^https?:\/\//, '')}/hello:1.0.0`,
        'Stop with Ctrl-C or `fixity down`.',
      ].join('\n'),
    );
  }
  await signalled;
  await server.stop();
}
