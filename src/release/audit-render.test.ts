import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalBytes } from '../core/index.ts';
import { leafHash, rootOf, signCheckpoint } from '../ledger/index.ts';
import { generateKeyPair, loadSigner } from '../trust/index.ts';
import { renderAuditHTML } from './audit-html.ts';
import { renderAuditMarkdown } from './audit-markdown.ts';
import { type AuditReport, assembleAuditReport } from './audit-report.ts';
import { auditRow } from './audit-row.ts';
import { verifyAuditReport } from './audit-verify.ts';

const ORIGIN = 'fixity.test/render';
const D = `sha256:${'d'.repeat(64)}`;
const HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>|`x`';

// RFC 9162 PATH(m, D[n]), straight from the definition.
function path(m: number, hashes: readonly Buffer[]): Buffer[] {
  if (hashes.length <= 1) return [];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return m < k
    ? [...path(m, hashes.slice(0, k)), rootOf(hashes.slice(k))]
    : [...path(m - k, hashes.slice(k)), rootOf(hashes.slice(0, k))];
}

/** A report over `leaves` as a server would build it, with a checkpoint signed by a fresh key. */
async function reportOf(leaves: object[]) {
  const signer = loadSigner(generateKeyPair('p256').privateKeyPem);
  const bodies = leaves.map((l) => canonicalBytes(l));
  const hashes = bodies.map((b) => leafHash(b));
  const root = rootOf(hashes);
  const note = await signCheckpoint({ size: bodies.length, root }, signer, ORIGIN);
  const rows = bodies.map((body, index) =>
    auditRow({ index, body, hashes: path(index, hashes), treeSize: bodies.length, root }),
  );
  const report = assembleAuditReport({
    generatedAt: '2025-03-10T00:00:00.000Z',
    filters: { stage: HOSTILE },
    checkpoint: {
      size: bodies.length,
      rootHash: root.toString('base64'),
      note,
      verified: true,
      signatureChecked: false,
      leavesMatchRoot: true,
    },
    rows,
    counts: { scanned: bodies.length, matched: bodies.length, omitted: 0 },
  });
  return { report, key: { publicKey: signer.publicKey, origin: ORIGIN } };
}

const story = [
  { event: 'manifest.push', actor: HOSTILE, time: '2025-03-01T00:00:00Z', digests: [D], repo: HOSTILE, tag: '1' },
  {
    event: 'signature',
    actor: 'ci',
    time: '2025-03-01T01:00:00Z',
    digests: [D],
    keyId: 'k'.repeat(64),
    format: 'sigstore-bundle',
  },
  { event: 'approval', actor: 'alice', time: '2025-03-02T00:00:00Z', digests: [D], stage: HOSTILE, comment: HOSTILE },
  {
    event: 'promotion',
    actor: 'bob',
    time: '2025-03-03T00:00:00Z',
    digests: [D],
    repository: 'shop/app',
    stage: 'production',
    pipelineVersion: 3,
    pipelineDigest: `sha256:${'p'.repeat(64)}`,
    policyDigest: `sha256:${'e'.repeat(64)}`,
    trigger: 'manual',
  },
  { event: HOSTILE, actor: 'x', time: 'now', digests: [], field: HOSTILE },
];

describe('audit report renderers', () => {
  test('renderAuditHTML() escapes every value a leaf carries, in text and in attributes', async () => {
    const { report } = await reportOf(story);
    const page = renderAuditHTML(report);
    assert.doesNotMatch(page, /<script/i);
    assert.doesNotMatch(page, /<img/i);
    assert.doesNotMatch(page, /"><img/);
    assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'));
    assert.ok(page.startsWith('<!doctype html>'));
    assert.match(page, /Content-Security-Policy" content="default-src 'none'/);
  });

  test('renderAuditHTML() shows a summary per digest, every row with its proof folded away, and how to re-verify', async () => {
    const { report } = await reportOf(story);
    const page = renderAuditHTML(report);
    for (const heading of ['Built by', 'Signed by', 'Approved by', 'Promoted', 'How to re-verify a row offline'])
      assert.ok(page.includes(heading), heading);
    assert.equal(page.match(/<details>/g)?.length, story.length);
    assert.ok(page.includes('to <b>production</b> under pipeline v3, policy'));
    assert.ok(page.includes(report.rows[0]!.leafHash));
    assert.ok(page.includes('✔ All 5 rows verified'));
    assert.ok(page.includes(report.checkpoint.note.split('\n')[0]!));
  });

  test('renderAuditHTML() puts a failing row in the banner and marks it', async () => {
    const { report } = await reportOf(story);
    const bad = assembleAuditReport({
      ...report,
      rows: report.rows.map((r, i) => (i === 2 ? { ...r, verified: false, problem: 'forged' } : r)),
    });
    const page = renderAuditHTML(bad);
    assert.match(page, /✘ NOT VERIFIED: 1 of 5 rows fail \(<a href="#row-2">#2<\/a>\)/);
    assert.match(page, /<tr id="row-2" class="bad">/);
  });

  test('renderAuditMarkdown() renders tables whose rows cannot be broken by hostile values', async () => {
    const { report } = await reportOf(story);
    const md = renderAuditMarkdown(report);
    assert.match(md, /^# Fixity audit report/);
    assert.match(md, /\*\*✔ All 5 rows verified against this one checkpoint\.\*\*/);
    const events = md.split('## Events')[1]!.split('\n\n')[1]!.split('\n');
    assert.equal(events.length, 2 + story.length);
    for (const line of events) assert.equal(line.replace(/\\\|/g, '').match(/\|/g)?.length, 9, line);
    assert.doesNotMatch(md, /<script|<img/);
    assert.ok(md.includes('## How to re-verify a row offline'));
    assert.ok(md.includes('def verify(index, tree_size, leaf_b64, proof_b64, root_b64):'));
    assert.ok(md.includes(`leaf hash: \`${report.rows[3]!.leafHash}\``));
  });

  test('renderAuditMarkdown() fences a checkpoint note with backticks in it', async () => {
    const { report } = await reportOf(story);
    const md = renderAuditMarkdown({ ...report, checkpoint: { ...report.checkpoint, note: 'x\n```\n# injected\n' } });
    assert.ok(md.includes('````\nx\n```\n# injected\n````'));
  });
});

describe('verifyAuditReport', () => {
  test('verifyAuditReport() accepts an honest report', async () => {
    const { report, key } = await reportOf(story);
    const checked = verifyAuditReport(JSON.parse(JSON.stringify(report)) as AuditReport, key);
    assert.equal(checked.ok, true);
    assert.equal(checked.checkpoint.signatureChecked, true);
    assert.deepEqual(checked.subjects, report.subjects);
  });

  test('verifyAuditReport() re-derives every field from the leaf, so a server cannot reword a row', async () => {
    const { report, key } = await reportOf(story);
    const lying = { ...report, rows: report.rows.map((r) => (r.index === 2 ? { ...r, actor: 'someone-else' } : r)) };
    const checked = verifyAuditReport(lying, key);
    assert.equal(checked.ok, true);
    assert.equal(checked.rows[2]!.actor, 'alice');
  });

  test('verifyAuditReport() flags a row whose leaf was swapped, and every row under a foreign key', async () => {
    const { report, key } = await reportOf(story);
    const swapped = {
      ...report,
      rows: report.rows.map((r) => (r.index === 1 ? { ...r, leaf: report.rows[0]!.leaf } : r)),
    };
    const checked = verifyAuditReport(swapped, key);
    assert.equal(checked.ok, false);
    assert.deepEqual(
      checked.rows.filter((r) => !r.verified).map((r) => r.index),
      [1],
    );
    const other = await reportOf(story);
    const foreign = verifyAuditReport(report, other.key);
    assert.equal(foreign.checkpoint.verified, false);
    assert.equal(foreign.counts.failed, story.length);
  });
});
