import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import {
  loadPipelineSpec,
  parsePipelineSpec,
  parsePipelineYAML,
  pipelineDigest,
  pipelineSpecJSONSchema,
} from './pipeline-spec.ts';
import type { ReleaseError } from './release-error.ts';

export const PIPELINE_YAML = `
name: shop
stages:
  - name: test
    auto: true
    gates:
      - name: signed
        expression: signatures.exists(s, s.verified && s.role == 'builder')
  - name: staging
    from: [test]
    soak: 30m
    auto: true
    gates:
      - name: no-critical
        expression: vulnerabilities != null && vulnerabilities.critical == 0
  - name: production
    from: [staging]
    soak: 2h
    gates:
      - name: tests-passed
        expression: tests != null && tests.result == 'PASSED'
    approvals: { count: 2, of: [alice, bob, 'group:release-managers'] }
    windows:
      - kind: allow
        rrule: FREQ=WEEKLY;BYDAY=MO,TU,WE,TH;BYHOUR=9
        duration: 8h
        timezone: Europe/Berlin
      - kind: deny
        rrule: |-
          DTSTART;TZID=Europe/Berlin:20241220T000000
          RRULE:FREQ=MONTHLY;INTERVAL=12
        duration: 18d
        timezone: Europe/Berlin
`;

function issuesOf(doc: unknown): readonly string[] {
  try {
    parsePipelineSpec(doc);
  } catch (err) {
    assert.ok(isErrorWithCode(err, 'PIPELINE_INVALID'), String(err));
    return (err as ReleaseError).issues;
  }
  assert.fail('expected the pipeline to be rejected');
}

const stage = (name: string, extra: Record<string, unknown> = {}) => ({ name, ...extra });

describe('parsePipelineSpec()', () => {
  it('parsePipelineYAML() reads a pipeline and fills the defaults', () => {
    const spec = parsePipelineYAML(PIPELINE_YAML);
    assert.deepEqual(
      spec.stages.map((s) => [s.name, s.from, s.require, s.auto]),
      [
        ['test', [], 'all', true],
        ['staging', ['test'], 'all', true],
        ['production', ['staging'], 'all', false],
      ],
    );
    assert.deepEqual(spec.stages[2]?.approvals, {
      count: 2,
      of: ['alice', 'bob', 'group:release-managers'],
      distinct: true,
      allowAuthor: false,
      allowPromoter: false,
    });
    assert.equal(spec.stages[0]?.windows.length, 0);
  });

  it('parsePipelineSpec() names unknown keys with their path and the keys it expected', () => {
    const issues = issuesOf({ stages: [stage('test', { gate: [] })], version: 1 });
    assert.ok(issues.includes('version: unknown key; expected one of name, stages'), issues.join('\n'));
    assert.ok(
      issues.some((i) => i.startsWith('stages[0].gate: unknown key; expected one of name, from, require, soak, gates')),
    );
  });

  it('parsePipelineSpec() reports wrong types and values with their key path', () => {
    const issues = issuesOf({
      stages: [
        stage('Test', { soak: '2 hours', require: 'most', approvals: { count: 0 }, windows: [{ kind: 'maybe' }] }),
      ],
    });
    for (const prefix of [
      'stages[0].name: a stage name',
      'stages[0].soak: a duration such as 30m',
      'stages[0].require:',
      'stages[0].approvals.count:',
      'stages[0].windows[0].kind:',
      'stages[0].windows[0].rrule: required',
    ]) {
      assert.ok(
        issues.some((i) => i.startsWith(prefix)),
        `${prefix} in\n${issues.join('\n')}`,
      );
    }
  });

  it('parsePipelineSpec() rejects duplicate stages, unknown and self upstreams, and soak without upstream', () => {
    const issues = issuesOf({
      stages: [stage('a', { soak: '1h' }), stage('b', { from: ['a', 'stagin', 'b', 'a'] }), stage('a')],
    });
    assert.deepEqual(issues, [
      'stages[2].name: "a" is already the name of stages[0]',
      'stages[0].soak: a soak needs an upstream stage in "from"',
      'stages[1].from[1]: unknown stage "stagin"; the stages are a, b',
      'stages[1].from[2]: a stage cannot come from itself',
      'stages[1].from[3]: "a" is listed twice',
    ]);
  });

  it('parsePipelineSpec() finds a cycle and prints it in promotion order', () => {
    const issues = issuesOf({
      stages: [stage('a', { from: ['c'] }), stage('b', { from: ['a'] }), stage('c', { from: ['b'] })],
    });
    assert.deepEqual(issues, ['stages[0].from: the stages form a cycle: a → b → c → a']);
  });

  it('parsePipelineSpec() compiles every gate and reports CEL errors at the expression', () => {
    const issues = issuesOf({
      stages: [
        stage('a', {
          gates: [
            { name: 'ok', expression: 'true' },
            { name: 'typo', expression: 'vulnerabilities.critcal == 0' },
            { name: 'syntax', expression: 'artifact.digest ==' },
          ],
        }),
        stage('b', {
          gates: [
            { name: 'x', expression: 'true' },
            { name: 'x', expression: 'false' },
          ],
        }),
      ],
    });
    assert.equal(issues.length, 3, issues.join('\n'));
    assert.match(issues[0]!, /^stages\[0\]\.gates\[1\]\.expression: 1:16: unknown field "critcal" on vulnerabilities/);
    assert.match(issues[1]!, /^stages\[0\]\.gates\[2\]\.expression: 1:17: syntax error/);
    assert.equal(issues[2], 'stages[1].gates[1].name: "x" is already a gate of this stage');
  });

  it('parsePipelineSpec() rejects bad time zones, bad rrules and DTSTART zones that disagree', () => {
    const window = (extra: Record<string, unknown>) => ({
      kind: 'allow',
      rrule: 'FREQ=DAILY',
      duration: '1h',
      ...extra,
    });
    const issues = issuesOf({
      stages: [
        stage('a', {
          windows: [
            window({ timezone: 'Europe/Berlln' }),
            window({ rrule: 'FREQ=YEARLY' }),
            window({
              rrule: 'DTSTART;TZID=America/New_York:20240101T090000\nRRULE:FREQ=DAILY',
              timezone: 'Europe/Berlin',
            }),
            window({ duration: '0m' }),
          ],
        }),
      ],
    });
    assert.deepEqual(issues, [
      'stages[0].windows[0].timezone: "Europe/Berlln" is not an IANA time zone such as Europe/Berlin',
      'stages[0].windows[1].rrule: FREQ=YEARLY is not supported; use DAILY, WEEKLY or MONTHLY',
      'stages[0].windows[2].rrule: DTSTART names TZID=America/New_York but timezone is Europe/Berlin',
      'stages[0].windows[3].duration: "0m" is not a duration such as 30m, 2h, 1d or 1h30m',
    ]);
  });

  it('parsePipelineSpec() rejects more required approvals than listed approvers, and non-distinct approvals', () => {
    const issues = issuesOf({
      stages: [stage('a', { approvals: { count: 3, of: ['alice', 'bob'], distinct: false } })],
    });
    assert.ok(
      issues.some((i) => i.startsWith('stages[0].approvals.distinct:')),
      issues.join('\n'),
    );
    const count = issuesOf({ stages: [stage('a', { approvals: { count: 3, of: ['alice', 'bob'] } })] });
    assert.deepEqual(count, ['stages[0].approvals.count: needs 3 distinct approvers but "of" names only 2']);
  });

  it('parsePipelineYAML() rejects duplicate keys and reports the file', async () => {
    assert.throws(() => parsePipelineYAML('stages: []\nstages: []\n', 'p.yaml'), /Cannot use p\.yaml:[\s\S]*unique/i);
    await assert.rejects(loadPipelineSpec('/nonexistent/pipeline.yaml'), /no such file/);
  });
});

describe('pipelineDigest()', () => {
  it('pipelineDigest() is the same for equal pipelines written differently and changes with any gate', () => {
    const a = parsePipelineYAML(PIPELINE_YAML);
    const b = parsePipelineSpec(JSON.parse(JSON.stringify(a)));
    assert.equal(pipelineDigest(a), pipelineDigest(b));
    const spelledOut = parsePipelineSpec({ stages: [{ name: 'x', from: [], require: 'all', auto: false }] });
    assert.equal(pipelineDigest(spelledOut), pipelineDigest(parsePipelineSpec({ stages: [{ name: 'x' }] })));
    const changed = structuredClone(a);
    changed.stages[0]!.gates[0]!.expression = 'true';
    assert.notEqual(pipelineDigest(changed), pipelineDigest(a));
    assert.match(pipelineDigest(a), /^sha256:[0-9a-f]{64}$/);
  });
});

describe('pipelineSpecJSONSchema()', () => {
  it('pipelineSpecJSONSchema() matches schema/pipeline.schema.json (run `npm run schema` after changing the spec)', () => {
    const onDisk = JSON.parse(readFileSync(new URL('../../schema/pipeline.schema.json', import.meta.url), 'utf8'));
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(pipelineSpecJSONSchema())));
  });
});
