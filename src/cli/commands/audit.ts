import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { renderAuditHTML } from '../../release/audit-html.ts';
import { renderAuditMarkdown } from '../../release/audit-markdown.ts';
import type { AuditReport } from '../../release/audit-report.ts';
import { parseAuditTime } from '../../release/audit-time.ts';
import { resolveClient } from '../context.ts';
import { trustedLedgerKey } from '../ledger-pin.ts';
import { CLIError, EXIT, emit, type GlobalOptions } from '../output.ts';
import { createProgress } from '../progress.ts';

interface ReportFlags {
  since?: string;
  until?: string;
  stage?: string;
  format?: string;
  out?: string;
  limit?: string;
  key?: string;
}

const FORMATS = ['md', 'html', 'json'];
const warn = (text: string) => process.stderr.write(`note: ${text}\n`);

export function addAuditCommands(program: Command, globals: () => GlobalOptions): void {
  const audit = program.command('audit').description('compliance reports proven by the ledger');

  audit
    .command('report')
    .description('who built, signed, approved and promoted what, when, under which policy; every row proven')
    .option('--since <when>', 'from this time: a duration back from now (7d, 12h) or an RFC 3339 time')
    .option('--until <when>', 'up to this time, in the same forms')
    .option('--stage <stage>', "only this stage's promotions, approvals and holds, and who built and signed them")
    .option('--format <format>', 'md, html or json (default md; --json means json)')
    .option('--out <file>', 'write the report to FILE instead of stdout')
    .option('--limit <n>', 'at most N matching rows (default 10000; failing rows are always kept)')
    .option('--key <file>', 'the ledger public key (pins it otherwise)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  fixity audit report --since 7d',
        '  fixity audit report --stage production --since 2025-01-01 --format html --out audit.html',
        "  fixity audit report --json | jq '.subjects[] | {digest, promoted}'",
        '',
        'Every row is checked here against the signed checkpoint with the pinned ledger key; exit 7 when any fails.',
      ].join('\n'),
    )
    .action(async (flags: ReportFlags) => runReport(globals(), flags));
}

async function runReport(g: GlobalOptions, flags: ReportFlags): Promise<void> {
  if (g.json && flags.format !== undefined && flags.format !== 'json')
    throw new CLIError('USAGE', `Cannot use --json with --format ${flags.format}`, 'drop one of them');
  const format = g.json ? 'json' : (flags.format ?? 'md');
  if (!FORMATS.includes(format))
    throw new CLIError('USAGE', `Cannot write a report as "${format}"`, `use --format ${FORMATS.join(', --format ')}`);
  const now = new Date();
  const since = when(flags.since, '--since', now);
  const until = when(flags.until, '--until', now);
  if (since !== undefined && until !== undefined && since > until)
    throw new CLIError('USAGE', 'Cannot build the audit report: --since is after --until');
  if (flags.limit !== undefined && !/^[1-9][0-9]*$/.test(flags.limit))
    throw new CLIError('USAGE', `Cannot use --limit ${flags.limit}: give a positive integer`);

  const { client, server } = resolveClient(g);
  const info = await client.ledger();
  const trusted = await trustedLedgerKey(server, info, flags.key, warn);
  const progress = createProgress({ json: g.json === true, mode: g.progress });
  progress.set('audit', 'reading the ledger on the server…');
  const query = new URLSearchParams({ format: 'json' });
  if (since !== undefined) query.set('since', since.toISOString());
  if (until !== undefined) query.set('until', until.toISOString());
  if (flags.stage !== undefined) query.set('stage', flags.stage);
  if (flags.limit !== undefined) query.set('limit', flags.limit);
  const fetched = await client.auditReport<AuditReport>(query);
  progress.set('audit', `verifying ${fetched.rows?.length ?? 0} inclusion proofs…`);
  // Loaded here: it brings the ledger room and with it the store's database drivers.
  const { verifyAuditReport } = await import('../../release/audit-verify.ts');
  const report = verifyAuditReport(fetched, { publicKey: createPublicKey(trusted.publicKey), origin: info.origin });
  progress.done();

  const text =
    format === 'html'
      ? renderAuditHTML(report)
      : format === 'md'
        ? renderAuditMarkdown(report)
        : `${JSON.stringify({ apiVersion: 'fixity.dev/v1', kind: 'AuditReport', ...report }, null, 2)}\n`;
  if (flags.out === undefined) process.stdout.write(text);
  else {
    await writeFile(flags.out, text);
    const c = report.counts;
    emit(
      g,
      'AuditReportFile',
      { file: flags.out, format, ok: report.ok, rows: c.rows, failed: c.failed, checkpoint: report.checkpoint.size },
      () =>
        `${report.ok ? '✔' : '✘'} wrote ${flags.out}: ${c.rows} rows, ${report.subjects.length} digests, ${c.failed === 0 ? 'every proof verified' : `${c.failed} rows do NOT verify`} against checkpoint ${report.checkpoint.size}`,
    );
  }
  if (!report.ok) {
    const bad = report.rows.filter((r) => !r.verified);
    process.stderr.write(
      `✘ the audit report does not verify${report.checkpoint.problem ? `: ${report.checkpoint.problem}` : ''}\n${bad
        .slice(0, 10)
        .map((r) => `  ✘ row #${r.index} (${r.event}): ${r.problem ?? 'not verified'}\n`)
        .join('')}${bad.length > 10 ? `  … and ${bad.length - 10} more\n` : ''}`,
    );
    process.exitCode = EXIT.verification;
  }
}

function when(text: string | undefined, flag: string, now: Date): Date | undefined {
  if (text === undefined) return undefined;
  const at = parseAuditTime(text, now);
  if (at === null)
    throw new CLIError(
      'USAGE',
      `Cannot use ${flag} "${text}"`,
      'give a duration such as 7d or 12h, or an RFC 3339 time',
    );
  return at;
}
