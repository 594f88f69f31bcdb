import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalBytes } from '../core/index.ts';
import { describeLeaf } from './audit-leaf.ts';
import { parseAuditTime } from './audit-time.ts';

const D = `sha256:${'a'.repeat(64)}`;
const leaf = (o: object) =>
  describeLeaf(canonicalBytes({ actor: 'ann', time: '2025-01-01T00:00:00Z', digests: [D], ...o }));

describe('describeLeaf', () => {
  test('describeLeaf() reads each kind the ledger holds', () => {
    assert.equal(leaf({ event: 'manifest.push', repo: 'a/b', tag: 'v1' }).detail, 'pushed to a/b:v1');
    assert.equal(leaf({ event: 'tag.move', repo: 'a/b', tag: 'v1' }).detail, 'tag a/b:v1 moved');
    assert.equal(leaf({ event: 'key.revoked', keyId: 'ab', reason: 'lost' }).detail, 'revoked key ab: lost');
    assert.equal(leaf({ event: 'pipeline.applied', version: 4 }).pipelineVersion, '4');
    assert.equal(leaf({ event: 'pipeline.applied', version: 4 }).pipelineDigest, D);
    assert.equal(leaf({ event: 'hold', stage: 'prod', reason: 'rollback', digests: [] }).subject, 'stage prod');
    assert.equal(leaf({ event: 'veto.lifted', reason: 'fixed' }).detail, 'veto lifted: fixed');
    const approval = leaf({ event: 'approval', stage: 'prod', repository: 'a/b', comment: 'ok' });
    assert.deepEqual(
      [approval.stage, approval.repository, approval.detail],
      ['prod', 'a/b', 'approved for prod in a/b: ok'],
    );
  });

  test("describeLeaf() reads the deploy room's events", () => {
    const env = { environment: 'staging', service: 'hello' };
    assert.equal(
      leaf({ event: 'environment.applied', environment: 'staging', stage: 'staging', version: 2 }).detail,
      'applied environment staging version 2 (stage staging)',
    );
    assert.equal(
      leaf({ event: 'rollout.started', strategy: 'canary', ...env }).detail,
      'started a canary rollout of hello in staging',
    );
    assert.equal(
      leaf({ event: 'rollout.rollback', mode: 'instant', ...env }).detail,
      'rolled hello in staging back (instant)',
    );
    assert.equal(leaf({ event: 'rollout.abort', ...env }).detail, 'abort the rollout of hello in staging');
    assert.equal(
      leaf({ event: 'deploy.drift', instance: 'i1', action: 'quarantined and replaced', ...env }).detail,
      'drift in staging/hello (i1): quarantined and replaced',
    );
    assert.equal(
      leaf({ event: 'deploy.weights', result: 'applied', detail: 'aaa=75 bbb=25', ...env }).detail,
      'weights applied in staging/hello: aaa=75 bbb=25',
    );
  });

  test('describeLeaf() lists an unknown kind generically and never throws on bytes that are not a leaf', () => {
    assert.equal(leaf({ event: 'future.thing', n: 3, ok: true, nested: { a: 1 } }).detail, 'n=3, ok=true');
    assert.equal(describeLeaf(Buffer.from('not json')).event, '(unreadable)');
    assert.equal(describeLeaf(Buffer.from('[1,2]')).event, '(unreadable)');
    assert.equal(describeLeaf(canonicalBytes({ actor: 5, digests: 'x' })).event, '(no event)');
    assert.ok(leaf({ event: 'approval', comment: 'x'.repeat(5000) }).detail.length < 400);
  });
});

describe('parseAuditTime', () => {
  const now = new Date('2025-03-10T12:00:00Z');
  test('parseAuditTime() takes durations back from now, RFC 3339 times and dates', () => {
    assert.equal(parseAuditTime('7d', now)?.toISOString(), '2025-03-03T12:00:00.000Z');
    assert.equal(parseAuditTime('1h30m', now)?.toISOString(), '2025-03-10T10:30:00.000Z');
    assert.equal(parseAuditTime('2025-01-02T03:04:05+01:00', now)?.toISOString(), '2025-01-02T02:04:05.000Z');
    assert.equal(parseAuditTime('2025-01-02', now)?.toISOString(), '2025-01-02T00:00:00.000Z');
  });
  test('parseAuditTime() refuses anything else', () => {
    for (const bad of ['', 'yesterday', '7', '-7d', '2025-13-45', '2025-01-02T03:04:05', '0d'])
      assert.equal(parseAuditTime(bad, now), null, bad);
  });
});
