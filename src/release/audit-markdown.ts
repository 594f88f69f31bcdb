import { REVERIFY_SCRIPT, REVERIFY_STEPS } from './audit-howto.ts';
import type { AuditReport } from './audit-report.ts';
import type { AuditRow } from './audit-row.ts';
import type { AuditMention } from './audit-summary.ts';

// Every value from a leaf is untrusted: it may hold pipes, newlines, markup or HTML. `text` neutralises all of
// it; code spans are used only for hashes this code computed or encoded itself.
const text = (s: string | number): string =>
  String(s)
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#~!()])/g, '\\$1');
const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
const head = (cells: readonly string[]): string[] => [row(cells), row(cells.map(() => '---'))];
const mark = (ok: boolean): string => (ok ? '✔' : '✘');

/** The report as Markdown: verdict, pipeline versions, a summary per digest, the events, their proofs. */
export function renderAuditMarkdown(report: AuditReport): string {
  const cp = report.checkpoint;
  const failed = report.rows.filter((r) => !r.verified);
  const lines = [
    '# Fixity audit report',
    '',
    `Generated ${text(report.generatedAt)} · ${filters(report)}`,
    '',
    `Checkpoint: tree size ${cp.size}, root \`${cp.rootHash}\` — ${checkpointVerdict(report)}`,
    '',
    report.ok
      ? `**✔ All ${report.rows.length} rows verified against this one checkpoint.**`
      : `**✘ NOT VERIFIED: ${failed.length} of ${report.rows.length} rows fail${
          failed.length === 0
            ? ''
            : ` (${failed
                .slice(0, 20)
                .map((r) => `#${r.index}`)
                .join(', ')}${failed.length > 20 ? ', …' : ''})`
        }${cp.verified && cp.leavesMatchRoot ? '' : `; ${text(cp.problem ?? 'the checkpoint does not verify')}`}.**`,
    ...(report.counts.omitted > 0
      ? [
          '',
          `${report.counts.omitted} more matching rows were left out: narrow the window or the stage, or raise the limit.`,
        ]
      : []),
    '',
    '## Pipeline versions',
    '',
    ...(report.policyVersions.length === 0
      ? ['None in this report.']
      : [
          ...head(['Version', 'Pipeline digest', 'Applied by', 'Applied at', 'Row']),
          ...report.policyVersions.map((v) =>
            row([text(v.version), text(v.pipelineDigest), text(v.appliedBy), text(v.appliedAt), ref(v)]),
          ),
        ]),
    '',
    '## Artifacts',
    '',
    ...(report.subjects.length === 0
      ? ['No artifact events in this report.']
      : [
          ...head(['Digest', 'Built by', 'Signed by', 'Approved by', 'Promoted', 'Vetoed']),
          ...report.subjects.map((s) =>
            row([
              `${text(s.digest)}${s.repositories.length === 0 ? '' : `<br>${s.repositories.map(text).join(', ')}`}`,
              mentions(s.built, what),
              mentions(s.signed, what),
              mentions(s.approved, (m) => (m.stage === undefined ? '' : ` for ${text(m.stage)}`)),
              mentions(s.promoted, promotion),
              mentions(s.vetoed, what),
            ]),
          ),
        ]),
    '',
    '## Events',
    '',
    ...head(['#', 'Time', 'Event', 'Actor', 'Subject', 'Stage', 'Detail', 'Proof']),
    ...report.rows.map((r) =>
      row([
        String(r.index),
        text(r.time),
        `${text(r.event)}${r.context ? ' (context)' : ''}`,
        text(r.actor),
        text(r.subject),
        text(r.stage ?? ''),
        text(r.detail),
        r.verified ? '✔' : `✘ ${text(r.problem ?? 'not verified')}`,
      ]),
    ),
    '',
    '"(context)" rows are outside the filters: they show who built or signed a digest promoted in this report.',
    '',
    '## Inclusion proofs',
    '',
    ...report.rows.flatMap(proof),
    '## Checkpoint',
    '',
    ...fenced(cp.note),
    '',
    '## How to re-verify a row offline',
    '',
    ...REVERIFY_STEPS.map((s, i) => `${i + 1}. ${s}`),
    '',
    ...fenced(REVERIFY_SCRIPT, 'python'),
    '',
  ];
  return lines.join('\n');
}

function filters(report: AuditReport): string {
  const f = report.filters;
  const parts = [
    f.since === undefined ? null : `since ${text(f.since)}`,
    f.until === undefined ? null : `until ${text(f.until)}`,
    f.stage === undefined ? null : `stage ${text(f.stage)}`,
  ].filter((p) => p !== null);
  return parts.length === 0 ? 'the whole ledger' : parts.join(', ');
}

function checkpointVerdict(report: AuditReport): string {
  const cp = report.checkpoint;
  if (!cp.verified || !cp.leavesMatchRoot) return `✘ ${text(cp.problem ?? 'does not verify')}`;
  return cp.signatureChecked
    ? '✔ signature verified with the trusted ledger key'
    : '✔ consistent (signature not checked here)';
}

const ref = (m: { index: number; verified: boolean }) => `#${m.index} ${mark(m.verified)}`;
const what = (m: AuditMention) => ` — ${text(m.what)}`;

function mentions(list: readonly AuditMention[], extra: (m: AuditMention) => string = () => ''): string {
  return list.map((m) => `${text(m.actor)}${extra(m)}, ${text(m.time)} (${ref(m)})`).join('<br>');
}

function promotion(m: AuditMention): string {
  const version = m.version === undefined ? '' : ` pipeline v${text(m.version)}`;
  return ` to ${text(m.stage ?? '?')} under${version} policy ${text(m.policyDigest ?? '?')}`;
}

function proof(r: AuditRow): string[] {
  return [
    `<details><summary>#${r.index} ${text(r.event)} ${mark(r.verified)}</summary>`,
    '',
    `- leaf hash: \`${r.leafHash || '-'}\``,
    `- tree size ${r.inclusionProof.treeSize}, root \`${r.inclusionProof.rootHash}\``,
    `- proof (${r.inclusionProof.hashes.length} hashes): ${r.inclusionProof.hashes.map((h) => `\`${h}\``).join(' ') || '-'}`,
    `- leaf (base64): \`${r.leaf || '-'}\``,
    '',
    '</details>',
    '',
  ];
}

// A fence longer than any backtick run inside, so an untrusted note cannot close it early.
function fenced(body: string, lang = ''): string[] {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${lang}`, body.replace(/\n$/, ''), fence];
}
