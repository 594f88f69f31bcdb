import type { Command } from 'commander';
import { resolveClient } from '../context.ts';
import { parseDurationFlag } from '../flag-values.ts';
import { emit, formatBytes, type GlobalOptions, table } from '../output.ts';

export function addGcCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('gc')
    .description('collect blobs no manifest references (mark and sweep), orphan files and stale uploads')
    .option('-n, --dry-run', 'report what would be removed; remove nothing')
    .option('--grace <duration>', 'keep anything newer than this (default: the server setting, 1h)')
    .addHelpText('after', '\nExamples:\n  fixity gc --dry-run\n  fixity gc --grace 10m')
    .action(async (opts: { dryRun?: boolean; grace?: string }) => {
      const g = globals();
      const grace = opts.grace === undefined ? {} : { graceSeconds: parseDurationFlag(opts.grace, '--grace') };
      const result = await resolveClient(g).client.collectGarbage({ dryRun: opts.dryRun === true, ...grace });
      emit(g, 'GarbageCollection', result, () => {
        const total = result.steps.reduce((a, s) => a + s.bytes, 0);
        return [
          table([
            ['STEP', 'STATUS', 'REMOVED', 'BYTES'],
            ...result.steps.map((s) => [
              s.step,
              s.error ? `${s.status}: ${s.error}` : s.status,
              String(s.removed),
              formatBytes(s.bytes),
            ]),
          ]),
          `${result.dryRun ? 'Would free' : 'Freed'} ${formatBytes(total)} (grace ${result.graceSeconds}s).${result.dryRun ? ' Nothing was changed.' : ''}`,
        ].join('\n');
      });
    });
}
