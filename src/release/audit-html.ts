import { REVERIFY_SCRIPT, REVERIFY_STEPS } from './audit-howto.ts';
import { parseLeaf } from './audit-leaf.ts';
import type { AuditReport } from './audit-report.ts';
import type { AuditRow } from './audit-row.ts';
import type { AuditMention, AuditSubject } from './audit-summary.ts';

// Markup is built only through the `html` tag, which escapes every interpolated value unless it is markup
// the tag itself produced: a hostile actor name or leaf can never become markup.
interface Markup {
  readonly markup: string;
}
const isMarkup = (v: unknown): v is Markup => typeof v === 'object' && v !== null && 'markup' in v;
const escapeHTML = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const piece = (v: unknown): string =>
  isMarkup(v)
    ? v.markup
    : Array.isArray(v)
      ? v.map(piece).join('')
      : v === null || v === undefined || v === false
        ? ''
        : escapeHTML(String(v));
function html(strings: TemplateStringsArray, ...values: unknown[]): Markup {
  return { markup: strings.reduce((out, s, i) => out + piece(values[i - 1]) + s) };
}
// Backticks in our own fixed sentences become <code>; the sentence is escaped first.
const prose = (s: string): Markup => ({
  markup: escapeHTML(s).replace(/`([^`]+)`/g, (_, code: string) => `<code>${code}</code>`),
});

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f6f8fa}td{overflow-wrap:anywhere}code,pre{font:12px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto;white-space:pre-wrap}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}tr.bad td{background:#ffebe9}.muted{color:#57606a}
.banner{padding:.6rem 1rem;border-radius:6px;margin:1rem 0}.banner.ok{background:#dafbe1}.banner.bad{background:#ffebe9}
details summary{cursor:pointer}ul{margin:.2rem 0;padding-left:1.2rem}
`;

/** The report as one self-contained HTML page (no scripts, no external resources). */
export function renderAuditHTML(report: AuditReport): string {
  const cp = report.checkpoint;
  const failed = report.rows.filter((r) => !r.verified);
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fixity audit report ${report.generatedAt}</title>
<style>${{ markup: STYLE }}</style></head><body>
<h1>Fixity audit report</h1>
<p class="muted">Generated ${report.generatedAt} · ${filters(report)} · checkpoint tree size ${cp.size},
root <code>${cp.rootHash}</code></p>
${
  report.ok
    ? html`<p class="banner ok">✔ All ${report.rows.length} rows verified against this one signed checkpoint${cp.signatureChecked ? ' (signature checked with the trusted ledger key)' : ''}.</p>`
    : html`<p class="banner bad">✘ NOT VERIFIED: ${failed.length} of ${report.rows.length} rows fail${failed.length > 0 ? html` (${failed.slice(0, 20).map((r, i) => html`${i === 0 ? '' : ', '}<a href="#row-${r.index}">#${r.index}</a>`)}${failed.length > 20 ? ', …' : ''})` : ''}${cp.verified && cp.leavesMatchRoot ? '' : html`. ${cp.problem ?? 'The checkpoint does not verify.'}`}</p>`
}
${report.counts.omitted > 0 ? html`<p class="bad">${report.counts.omitted} more matching rows were left out: narrow the window or the stage, or raise the limit.</p>` : ''}
<h2>Artifacts</h2>
${report.subjects.length === 0 ? html`<p>No artifact events in this report.</p>` : subjectTable(report.subjects)}
<h2>Pipeline versions</h2>
${
  report.policyVersions.length === 0
    ? html`<p>None in this report.</p>`
    : html`<table><tr><th>Version</th><th>Pipeline digest</th><th>Applied by</th><th>Applied at</th><th>Row</th></tr>
${report.policyVersions.map((v) => html`<tr><td>${v.version}</td><td><code>${v.pipelineDigest}</code></td><td>${v.appliedBy}</td><td>${v.appliedAt}</td><td>${rowLink(v)}</td></tr>`)}</table>`
}
<h2>Events</h2>
<p class="muted">Rows marked “context” are outside the filters: they show who built or signed a digest promoted in this report.</p>
<table><tr><th>#</th><th>Time</th><th>Event</th><th>Actor</th><th>Subject</th><th>Stage</th><th>Detail</th><th>Inclusion proof</th></tr>
${report.rows.map(eventRow)}</table>
<h2>Checkpoint</h2>
<pre>${cp.note}</pre>
<h2>How to re-verify a row offline</h2>
<ol>${REVERIFY_STEPS.map((s) => html`<li>${prose(s)}</li>`)}</ol>
<pre>${REVERIFY_SCRIPT}</pre>
</body></html>
`;
  return page.markup;
}

function filters(report: AuditReport): Markup {
  const f = report.filters;
  const parts = [
    f.since === undefined ? null : `since ${f.since}`,
    f.until === undefined ? null : `until ${f.until}`,
    f.stage === undefined ? null : `stage ${f.stage}`,
  ].filter((p) => p !== null);
  return html`${parts.length === 0 ? 'the whole ledger' : parts.join(', ')}`;
}

const mark = (ok: boolean) => (ok ? html`<span class="ok">✔</span>` : html`<span class="bad">✘</span>`);
const rowLink = (m: { index: number; verified: boolean }) =>
  html`<a href="#row-${m.index}">#${m.index}</a> ${mark(m.verified)}`;

function subjectTable(subjects: readonly AuditSubject[]): Markup {
  const list = (items: readonly AuditMention[], extra: (m: AuditMention) => Markup | string = () => '') =>
    items.length === 0
      ? html`<span class="muted">—</span>`
      : html`<ul>${items.map((m) => html`<li>${m.actor}${extra(m)}, ${m.time} (${rowLink(m)})</li>`)}</ul>`;
  return html`<table><tr><th>Digest</th><th>Built by</th><th>Signed by</th><th>Approved by</th><th>Promoted</th><th>Vetoed</th></tr>
${subjects.map(
  (
    s,
  ) => html`<tr${s.verified ? '' : html` class="bad"`}><td><code>${s.digest}</code>${s.repositories.length === 0 ? '' : html`<br><span class="muted">${s.repositories.join(', ')}</span>`}</td>
<td>${list(s.built, (m) => html` <span class="muted">${m.what}</span>`)}</td>
<td>${list(s.signed, (m) => html` <span class="muted">${m.what}</span>`)}</td>
<td>${list(s.approved, (m) => (m.stage === undefined ? '' : html` for <b>${m.stage}</b>`))}</td>
<td>${list(s.promoted, (m) => html` to <b>${m.stage ?? '?'}</b> under ${m.version === undefined ? '' : html`pipeline v${m.version}, `}policy <code>${m.policyDigest ?? '?'}</code>`)}</td>
<td>${list(s.vetoed, (m) => html` <span class="muted">${m.what}</span>`)}</td></tr>`,
)}</table>`;
}

function eventRow(r: AuditRow): Markup {
  const leaf = parseLeaf(Buffer.from(r.leaf, 'base64'));
  const p = r.inclusionProof;
  return html`<tr id="row-${r.index}"${r.verified ? '' : html` class="bad"`}><td>${r.index}</td><td>${r.time}</td>
<td>${r.event}${r.context ? html` <span class="muted">context</span>` : ''}</td><td>${r.actor}</td>
<td><code>${r.subject}</code></td><td>${r.stage ?? ''}</td><td>${r.detail}</td>
<td><details><summary>${r.verified ? html`<span class="ok">✔ verified</span>` : html`<span class="bad">✘ ${r.problem ?? 'not verified'}</span>`}</summary>
<p>leaf hash <code>${r.leafHash || '-'}</code><br>tree size ${p.treeSize}, root <code>${p.rootHash}</code></p>
<ol start="0">${p.hashes.map((h) => html`<li><code>${h}</code></li>`)}</ol>
<p>leaf (base64)</p><pre>${r.leaf || '-'}</pre>
${leaf === null ? '' : html`<pre>${JSON.stringify(leaf, null, 2)}</pre>`}</details></td></tr>
`;
}
