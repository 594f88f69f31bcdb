import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { type CachePruneResult, DEFAULT_CACHE_MAX_BYTES, pruneCache } from '../../build/cache-prune.ts';
import { CACHE_KINDS, type CacheTally, scanCache, sum, tallyCache } from '../../build/cache-usage.ts';
import { systemClock } from '../../core/index.ts';
import { parseByteSize } from '../flag-values.ts';
import { emit, formatBytes, type GlobalOptions, table } from '../output.ts';

/** Where `fixity build` keeps its cache: `$XDG_CACHE_HOME/fixity`, else `~/.cache/fixity`. */
export function buildCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fixity');
}

/** The size builds keep their cache under: `flag` (from --cache-max), else FIXITY_CACHE_MAX, else 10 GiB. */
export function buildCacheMaxBytes(flag: string | undefined): number {
  if (flag !== undefined) return parseByteSize(flag, '--cache-max');
  const env = process.env.FIXITY_CACHE_MAX;
  return env ? parseByteSize(env, 'FIXITY_CACHE_MAX') : DEFAULT_CACHE_MAX_BYTES;
}

export function addCacheCommands(program: Command, globals: () => GlobalOptions): void {
  const cache = program
    .command('cache')
    .description('inspect and prune the cache of fixity build ($XDG_CACHE_HOME/fixity, else ~/.cache/fixity)');

  cache
    .command('du')
    .description('show the size of the build cache per kind of entry')
    .addHelpText('after', '\nExamples:\n  fixity cache du\n  fixity cache du --json')
    .action(async () => {
      const dir = buildCacheDir();
      const maxBytes = buildCacheMaxBytes(undefined);
      const { entries, leftovers } = await scanCache(dir);
      const kinds = tallyCache(entries, leftovers);
      const bytes = sum(kinds);
      emit(
        globals(),
        'CacheUsage',
        { dir, maxBytes, bytes, kinds: kinds.map((k) => ({ ...k, description: describe(k.kind) })) },
        () =>
          [
            tallyTable(kinds, true),
            `${formatBytes(bytes)} in ${dir}; builds keep it under ${formatBytes(maxBytes)} (--cache-max, FIXITY_CACHE_MAX).`,
          ].join('\n'),
      );
    });

  cache
    .command('prune')
    .description('remove least-recently-used build cache entries, down to a size or all of them')
    .option('--keep-storage <size>', 'keep at most this much, e.g. 2GiB (default: FIXITY_CACHE_MAX, else 10GiB)')
    .addOption(new Option('--all', 'remove every entry').conflicts('keepStorage'))
    .option('-n, --dry-run', 'report what would be removed; remove nothing')
    .addHelpText(
      'after',
      [
        '',
        'Entries in use by a running build stay readable to it. Every successful build also prunes to its',
        '--cache-max; leftovers of interrupted builds older than an hour are removed too.',
        '',
        'Examples:',
        '  fixity cache prune --keep-storage 2GiB',
        '  fixity cache prune --all --dry-run',
        '  fixity cache prune --all --json',
      ].join('\n'),
    )
    .action(async (opts: { keepStorage?: string; all?: boolean; dryRun?: boolean }) => {
      const maxBytes =
        opts.all === true
          ? 0
          : opts.keepStorage === undefined
            ? buildCacheMaxBytes(undefined)
            : parseByteSize(opts.keepStorage, '--keep-storage');
      const result = await pruneCache(buildCacheDir(), { maxBytes, clock: systemClock, dryRun: opts.dryRun === true });
      emit(globals(), 'CachePrune', result, () => renderPrune(result));
    });
}

function renderPrune(result: CachePruneResult): string {
  const freed = sum(result.removed);
  const count = result.removed.reduce((n, k) => n + k.entries, 0);
  return [
    tallyTable(result.removed, false),
    `${result.dryRun ? 'Would free' : 'Freed'} ${formatBytes(freed)} (${count} ${count === 1 ? 'entry' : 'entries'}); ` +
      `the cache ${result.dryRun ? 'would hold' : 'holds'} ${formatBytes(result.bytesAfter)} ` +
      `(limit ${formatBytes(result.maxBytes)}).${result.dryRun ? ' Nothing was changed.' : ''}`,
  ].join('\n');
}

function tallyTable(tally: CacheTally, withDescription: boolean): string {
  return table([
    ['KIND', 'ENTRIES', 'SIZE', ...(withDescription ? ['WHAT'] : [])],
    ...tally.map((k) => [
      k.kind,
      String(k.entries),
      formatBytes(k.bytes),
      ...(withDescription ? [describe(k.kind)] : []),
    ]),
  ]);
}

function describe(kind: CacheTally[number]['kind']): string {
  return kind === 'incomplete' ? 'writes in progress or cut short, and removals not finished' : CACHE_KINDS[kind];
}
