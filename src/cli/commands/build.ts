import { spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { getCompileCacheDir } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { COMPRESSION_LEVELS } from '../../build/block-compressor.ts';
import type { BuildEvent, BuildOptions } from '../../build/build.ts';
import type { CachePruneResult } from '../../build/cache-prune.ts';
import { connectFileWatcher, type FileWatcher, watchDir } from '../../build/fs-watch.ts';
import { systemClock } from '../../core/index.ts';
import { VERSION } from '../../defaults.ts';
import { createRegistryClient, parseReference } from '../../oci/index.ts';
import type { RecordSignatures } from '../../trust/index.ts';
import { resolveClient } from '../context.ts';
import { withAlias } from '../digest-address.ts';
import { CLIError, EXIT, emit, formatBytes, type GlobalOptions } from '../output.ts';
import { createProgress } from '../progress.ts';
import { isCI } from '../prompt.ts';
import { registryCredentials } from '../registry-credentials.ts';
import { trustRoom } from '../rooms.ts';
import { buildCacheDir, buildCacheMaxBytes } from './cache.ts';
import { ledgerRecorder } from './sign.ts';

interface BuildFlags {
  push?: string[];
  ociLayout?: string;
  ociArchive?: string;
  compression?: string;
  compressionLevel?: string;
  cache?: boolean;
  cacheMax?: string;
  updateBase?: boolean;
  check?: boolean;
  key?: string;
  tlog?: boolean;
  watch?: boolean;
}

export function addBuildCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('build')
    .description('build a reproducible OCI image from DIR/fixity.yaml, with provenance and an SBOM')
    .argument('[dir]', 'source directory holding fixity.yaml', '.')
    .option('--push <ref...>', 'push to these references (the Fixity registry or any OCI registry)')
    .option('--oci-layout <dir>', 'also write an OCI image layout (umoci, skopeo oci:DIR)')
    .option('--oci-archive <file>', 'also write the layout as one tar file (skopeo oci-archive:FILE)')
    .option('--compression <kind>', 'gzip or zstd', 'gzip')
    .option(
      '--compression-level <n>',
      'gzip 1-9 (default 6), zstd 1-19 (default 3): lower builds faster and pushes more bytes; recorded in provenance',
    )
    .option('--no-cache', 'rebuild every layer, and hash and scan every file again')
    .option(
      '--no-watch',
      'read the sources even when the file watcher saw no change since the last build (env FIXITY_BUILD_WATCH=0)',
    )
    .option(
      '--cache-max <size>',
      'then prune the cache to this size, least recently used first (env FIXITY_CACHE_MAX; default 10GiB)',
    )
    .option('--update-base', 're-resolve the base image tag and re-pin it in fixity.lock')
    .option(
      '--key <file>',
      'builder key (PEM): sign the provenance and SBOM as Sigstore bundles (env FIXITY_BUILDER_KEY)',
    )
    .option('--no-tlog', 'with --key: do not record the attestations in the Fixity ledger')
    .option(
      '--check',
      'build twice from fresh copies (other path, umask, locale, time zone) and fail on any difference',
    )
    .addHelpText(
      'after',
      [
        '',
        'The cache lives in $XDG_CACHE_HOME/fixity (else ~/.cache/fixity); see fixity cache du and fixity cache prune.',
        'Outside CI, a per-user file watcher (started on first use, gone after 3 idle hours) tells the next build',
        'whether anything under DIR changed; if nothing did, it reuses the last build without reading the tree.',
        '',
        'Examples:',
        '  fixity build examples/hello --push localhost:7070/hello:1.0.0',
        '  fixity build . --oci-layout ./out --json',
        '  fixity build . --cache-max 2GiB',
      ].join('\n'),
    )
    .action(async (dir: string, flags: BuildFlags) => {
      const g = globals();
      if (flags.check) return runCheck(dir, g, compressionOf(flags));
      const watch = flags.cache !== false && watchWanted(flags, process.env);
      // Run through bin/fixity.js, which runs every command in its own process, without the build's V8 settings:
      // a build the file watcher vouches for is done here, any other in a process started with them.
      const inPlace = startedByBin() && !BUILD_V8_FLAGS.every((f) => process.execArgv.includes(f));
      const keyFile = flags.key ?? process.env.FIXITY_BUILDER_KEY;
      if (inPlace && (!watch || keyFile !== undefined)) return withBuildFlags();
      const cacheMaxBytes = buildCacheMaxBytes(flags.cacheMax);
      const { client, server, token } = resolveClient(g);
      const registry = createRegistryClient({ credentials: registryCredentials({ server, token }) });
      const attest =
        keyFile === undefined
          ? undefined
          : await builderAttestor(keyFile, ledgerRecorder(client, flags.tlog !== false), flags.push?.[0]);
      const progress = createProgress({ json: g.json === true, mode: g.progress });
      const epoch = process.env.SOURCE_DATE_EPOCH;
      // Loaded on use: the build room is heavy and other commands should start fast.
      const { build, buildIfUnchanged } = await import('../../build/build.ts');
      // What a build in place reports waits until it is known to be the build (else the other process says it).
      const held: BuildEvent[] = [];
      const options: BuildOptions = {
        dir,
        cacheDir: buildCacheDir(),
        cacheMaxBytes,
        toolVersion: VERSION,
        registry,
        clock: systemClock,
        ...compressionOf(flags),
        noCache: flags.cache === false,
        updateBase: flags.updateBase === true,
        ...(epoch !== undefined && /^\d+$/.test(epoch) ? { sourceDateEpoch: Number(epoch) } : {}),
        ...(flags.push ? { push: flags.push } : {}),
        ...(flags.ociLayout ? { ociLayout: flags.ociLayout } : {}),
        ...(flags.ociArchive ? { ociArchive: flags.ociArchive } : {}),
        ...(attest === undefined ? {} : { attest }),
        watch: watch ? fileWatcher() : undefined,
        onEvent: (e) => (inPlace ? held.push(e) : report(e)),
      };
      function report(e: BuildEvent) {
        if (e.kind === 'layer') {
          progress.set(
            `layer${e.index}`,
            `layer ${e.index}  ${e.cached ? 'cached' : e.done ? 'done  ' : '…     '}  ${e.files} files  ${progress.bytes(e.bytesIn)} → ${progress.bytes(e.bytesOut)}`,
          );
        } else if (e.kind === 'push') progress.set(`push:${e.ref}`, `push ${e.ref}: ${e.what} ${e.result}`);
        else if (e.kind === 'warning') process.stderr.write(`warning: ${e.message}\n`);
        else if (e.kind === 'watch' && e.unchanged) progress.set('watch', 'sources unchanged since the last build');
        else if (e.kind === 'source' && g.json !== true) {
          process.stderr.write(
            `source date ${e.info.sourceDateEpoch} (${e.info.epochFrom})${e.info.revision ? ` at ${e.info.revision.slice(0, 12)}` : ''}\n`,
          );
        }
      }
      const result = inPlace ? await buildIfUnchanged(options) : await build(options);
      if (result === null) return withBuildFlags();
      for (const e of held) report(e);
      progress.done();
      if (result.cache !== null && result.cache.bytesAfter > result.cache.maxBytes && g.json !== true) {
        process.stderr.write(
          `warning: the build cache holds ${formatBytes(result.cache.bytesAfter)}, over its ${formatBytes(result.cache.maxBytes)} limit: ` +
            'entries this build used and writes of running builds are never pruned\n' +
            '  fix: raise --cache-max (or FIXITY_CACHE_MAX)\n',
        );
      }
      emit(
        g,
        'Build',
        {
          digest: result.digest,
          ref: result.refs[0] ?? null,
          refs: result.refs,
          size: result.size,
          layers: result.layers,
          config: result.config,
          sourceDateEpoch: result.sourceDateEpoch,
          epochFrom: result.epochFrom,
          provenance: result.provenance.digest,
          sbom: result.sbom.digest,
          cache: result.cache,
          sources: result.sources,
        },
        () =>
          [
            `✔ built ${result.name}:${result.version} ${withAlias(result.digest)}`,
            ...result.layers.map(
              (l, i) =>
                `  layer ${i}  ${l.digest.slice(0, 19)}…  ${l.size} B${l.cached ? '  (cached)' : ''}${l.from ? `  from ${l.from}` : ''}`,
            ),
            ...result.refs.map((r) => `  pushed ${r}`),
            `  provenance ${result.provenance.digest.slice(0, 19)}…  sbom ${result.sbom.digest.slice(0, 19)}…`,
            ...prunedLine(result.cache),
          ].join('\n'),
      );
    });
}

/**
 * V8 settings for a build that reads its sources. It allocates fast and keeps little, and V8 sizes the young
 * generation by the machine's memory (three semi-spaces of up to 32-64 MiB): on a 90k-file tree that was a
 * quarter of the peak RSS. 4 MiB semi-spaces took 115 MiB off the peak of a cold build (460 -> 340 MiB) and no
 * time. --expose-gc lets a build collect between its steps (collect-garbage.ts), so one step's garbage outside
 * the heap is not under the next's peak. Both must be given when Node starts.
 */
const BUILD_V8_FLAGS = ['--max-semi-space-size=4', '--expose-gc'];
const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

function startedByBin(): boolean {
  const bin = fileURLToPath(new URL('../../../bin/fixity.js', import.meta.url));
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(bin);
  } catch {
    return false;
  }
}

/** Runs this command again in a process started with BUILD_V8_FLAGS, and exits as it does. */
function withBuildFlags(): never {
  const cache = getCompileCacheDir();
  const env = cache === undefined ? process.env : { ...process.env, NODE_COMPILE_CACHE: cache };
  const r = spawnSync(process.execPath, [...BUILD_V8_FLAGS, MAIN, ...process.argv.slice(2)], { stdio: 'inherit', env });
  process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));
}

/**
 * Whether to ask the file watcher: not with --no-watch or FIXITY_BUILD_WATCH=0, and not in CI (where each
 * job starts afresh and a background process would outlive it) unless FIXITY_BUILD_WATCH=1.
 */
export function watchWanted(flags: BuildFlags, env: NodeJS.ProcessEnv): boolean {
  if (flags.watch === false || env.FIXITY_BUILD_WATCH === '0') return false;
  return env.FIXITY_BUILD_WATCH === '1' || !isCI(env);
}

function fileWatcher(): FileWatcher {
  const dir = watchDir(process.env);
  // How long it waits for a build before leaving: FIXITY_WATCH_IDLE_MS, else 3 hours.
  const idle = Number(process.env.FIXITY_WATCH_IDLE_MS);
  const idleMs = String(idle > 0 ? idle : 3 * 60 * 60 * 1000);
  const entry = fileURLToPath(new URL('../../build/fs-watch-process.ts', import.meta.url));
  return connectFileWatcher({
    dir,
    // Detached, with nothing of this process's: it outlives the build, and answers the next one.
    // A small young generation: it allocates little once its watches are set (89 against 103 MiB resident).
    start: () =>
      spawn(process.execPath, ['--max-semi-space-size=1', entry, dir, idleMs], {
        detached: true,
        stdio: 'ignore',
        cwd: '/',
      }).unref(),
  });
}

// Said only when the build's prune removed something: how much, and what the cache holds now.
function prunedLine(cache: CachePruneResult | null): string[] {
  const entries = cache === null ? 0 : cache.removed.reduce((n, k) => n + k.entries, 0);
  if (cache === null || entries === 0) return [];
  const bytes = cache.removed.reduce((n, k) => n + k.bytes, 0);
  return [
    `  cache pruned: ${entries} least recently used ${entries === 1 ? 'entry' : 'entries'} (${formatBytes(bytes)}), ` +
      `${formatBytes(cache.bytesAfter)} kept of ${formatBytes(cache.maxBytes)}`,
  ];
}

/** --compression and --compression-level, checked: a misspelt kind or a level out of range is a usage error. */
function compressionOf(flags: BuildFlags): { compression: 'gzip' | 'zstd'; compressionLevel?: number } {
  const kind = flags.compression ?? 'gzip';
  if (kind !== 'gzip' && kind !== 'zstd')
    throw new CLIError('USAGE', `Cannot compress layers as "${kind}": use gzip or zstd`, '--compression gzip');
  if (flags.compressionLevel === undefined) return { compression: kind };
  const range = COMPRESSION_LEVELS[kind];
  const level = Number(flags.compressionLevel);
  if (!Number.isInteger(level) || level < range.min || level > range.max)
    throw new CLIError(
      'USAGE',
      `Cannot compress ${kind} at level "${flags.compressionLevel}": give ${range.min} to ${range.max} (default ${range.default})`,
      `--compression-level ${range.default}`,
    );
  return { compression: kind, compressionLevel: level };
}

// `fixity build --check`: the same source built twice under different conditions must give one digest.
async function runCheck(dir: string, g: GlobalOptions, how: ReturnType<typeof compressionOf>): Promise<void> {
  const { checkReproducible } = await import('../../build/reproducibility-check.ts');
  const cli = [process.execPath, ...BUILD_V8_FLAGS, MAIN];
  const args = [
    ...['--compression', how.compression],
    ...(how.compressionLevel === undefined ? [] : ['--compression-level', String(how.compressionLevel)]),
  ];
  const report = await checkReproducible(dir, { cli, env: process.env, args });
  emit(g, 'ReproducibilityCheck', report, () =>
    [
      report.reproducible ? `✔ reproducible: ${report.runs[0].digest}` : '✖ not reproducible',
      ...report.runs.map(
        (r, i) => `  build ${i + 1}: ${r.digest}  (umask ${r.umask}, ${r.locale}, TZ ${r.timezone}, ${r.dir})`,
      ),
      ...report.differences.map((d) => `  Δ ${d}`),
    ].join('\n'),
  );
  if (!report.reproducible) process.exitCode = EXIT.verification;
}

// With a builder key, provenance and SBOM become signed, ledger-recorded bundles (recorded against the
// first push target's repository; an unpushed build has nothing to record against).
async function builderAttestor(keyFile: string, record: RecordSignatures | undefined, target: string | undefined) {
  const { evidenceAttestor, loadSigner } = await trustRoom();
  const signer = loadSigner(await readFile(keyFile, 'utf8'), process.env.FIXITY_KEY_PASSPHRASE);
  const repository = target === undefined ? null : parseReference(target).repository;
  return evidenceAttestor({ signer, repository, ...(record === undefined ? {} : { record }) });
}
