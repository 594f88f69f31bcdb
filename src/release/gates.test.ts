import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEvidenceContext, compilePolicy, type EvidenceInput } from '../policy/index.ts';
import { type Approval, decidePromotion, type PromotionRequest, type PromotionStep } from './gates.ts';
import { parsePipelineSpec, type StageSpec } from './pipeline-spec.ts';

const NOW = new Date('2024-05-03T10:00:00Z'); // a Friday, 12:00 in Berlin
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000);

const spec = parsePipelineSpec({
  stages: [
    { name: 'test', auto: true },
    { name: 'perf', auto: true },
    {
      name: 'staging',
      from: ['test', 'perf'],
      require: 'all',
      soak: '2h',
      auto: true,
      gates: [
        { name: 'signed', expression: "signatures.exists(s, s.verified && s.role == 'release')" },
        { name: 'no-critical', expression: 'vulnerabilities != null && vulnerabilities.critical == 0' },
      ],
    },
    { name: 'canary', from: ['test', 'perf'], require: 'any', soak: '1h' },
    {
      name: 'production',
      from: ['staging'],
      approvals: { count: 2, of: ['alice', 'bob', 'dave', 'erin', 'group:release-managers'] },
      windows: [
        {
          kind: 'allow',
          rrule: 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9',
          duration: '8h',
          timezone: 'Europe/Berlin',
        },
      ],
    },
  ],
});
// Signed by the release key, scanned clean by Trivy (a report with no findings).
const evidence = (signatures = [{ keyId: 'SHA256:release', role: 'release', verified: true }]): EvidenceInput => ({
  artifact: { digest: `sha256:${'a'.repeat(64)}`, repository: 'registry.example.com/shop', tags: ['1.4.0'] },
  signatures,
  attestations: [
    { predicateType: 'https://trivy.dev/report', predicate: { SchemaVersion: 2, ArtifactName: 'shop', Results: [] } },
  ],
  now: NOW,
});
const stageNamed = (name: string): StageSpec => spec.stages.find((s) => s.name === name)!;
const approval = (user: string, extra: Partial<Approval> = {}): Approval => ({
  user,
  stage: 'production',
  at: hoursAgo(1),
  ...extra,
});

function request(stageName: string, overrides: Partial<PromotionRequest> = {}): PromotionRequest {
  const stage = overrides.stage ?? stageNamed(stageName);
  return {
    stage,
    policy: compilePolicy(stage.gates),
    context: buildEvidenceContext(evidence()),
    approvals: [approval('alice'), approval('bob')],
    history: ['test', 'perf', 'staging'].map((s) => ({ stage: s, verifiedAt: hoursAgo(24) })),
    now: NOW,
    veto: null,
    hold: null,
    author: 'dave',
    promoter: 'erin',
    trigger: 'manual',
    ...overrides,
  };
}

const step = (steps: readonly PromotionStep[], kind: PromotionStep['kind'], name?: string) => {
  const found = steps.find((s) => s.kind === kind && (name === undefined || s.name === name));
  assert.ok(found, `no ${kind} step in ${JSON.stringify(steps)}`);
  return found;
};

describe('decidePromotion()', () => {
  it('decidePromotion() allows when every step passes and lists the steps in a fixed order', () => {
    const decision = decidePromotion(request('staging'));
    assert.equal(decision.allowed, true, JSON.stringify(decision.steps, null, 2));
    assert.deepEqual(
      decision.steps.map((s) => `${s.kind}:${s.name}`),
      ['veto:veto', 'upstream:upstream', 'soak:soak', 'gate:signed', 'gate:no-critical', 'hold:hold'],
    );
    assert.equal(decision.policyDigest, compilePolicy(stageNamed('staging').gates).digest);
    assert.equal(decision.nextOpening, undefined);
  });

  it('decidePromotion() blocks a vetoed digest, manually and automatically', () => {
    const veto = { by: 'security', reason: 'CVE-2024-3094 in xz', at: hoursAgo(2) };
    for (const trigger of ['manual', 'auto'] as const) {
      const decision = decidePromotion(request('staging', { veto, trigger }));
      assert.equal(decision.allowed, false);
      assert.deepEqual(step(decision.steps, 'veto'), {
        kind: 'veto',
        name: 'veto',
        passed: false,
        detail: 'vetoed by security at 2024-05-03T08:00:00.000Z: CVE-2024-3094 in xz',
      });
    }
  });

  it('decidePromotion() fan-in "all" needs every upstream stage verified', () => {
    const decision = decidePromotion(request('staging', { history: [{ stage: 'test', verifiedAt: hoursAgo(5) }] }));
    const upstream = step(decision.steps, 'upstream');
    assert.equal(decision.allowed, false);
    assert.deepEqual(upstream, {
      kind: 'upstream',
      name: 'upstream',
      passed: false,
      detail: 'not verified in perf (needs all of test, perf)',
      verified: ['test'],
      missing: ['perf'],
    });
  });

  it('decidePromotion() fan-in "any" needs one upstream stage, and ignores verifications after now', () => {
    const one = decidePromotion(request('canary', { history: [{ stage: 'perf', verifiedAt: hoursAgo(3) }] }));
    assert.equal(one.allowed, true, JSON.stringify(one.steps));
    const future = decidePromotion(request('canary', { history: [{ stage: 'perf', verifiedAt: hoursAgo(-1) }] }));
    assert.equal(step(future.steps, 'upstream').passed, false);
  });

  it('decidePromotion() soak with "all" starts when the last upstream was verified and says when it is ready', () => {
    const history = [
      { stage: 'test', verifiedAt: hoursAgo(10) },
      { stage: 'perf', verifiedAt: hoursAgo(0.5) },
      { stage: 'perf', verifiedAt: hoursAgo(0.25) },
    ];
    const soak = step(decidePromotion(request('staging', { history })).steps, 'soak');
    assert.equal(soak.passed, false);
    assert.equal(soak.detail, 'verified upstream for 30m, needs 2h: ready at 2024-05-03T11:30:00.000Z');
    assert.deepEqual(soak.kind === 'soak' && soak.readyAt, new Date('2024-05-03T11:30:00Z'));
    const later = decidePromotion(request('staging', { history, now: new Date('2024-05-03T11:30:00Z') }));
    assert.equal(step(later.steps, 'soak').passed, true);
  });

  it('decidePromotion() soak with "any" counts the upstream that has soaked longest', () => {
    const history = [
      { stage: 'test', verifiedAt: hoursAgo(0.1) },
      { stage: 'perf', verifiedAt: hoursAgo(1.5) },
    ];
    assert.equal(step(decidePromotion(request('canary', { history })).steps, 'soak').passed, true);
    const none = step(decidePromotion(request('canary', { history: [] })).steps, 'soak');
    assert.deepEqual(none, {
      kind: 'soak',
      name: 'soak',
      passed: false,
      detail: 'needs 1h verified upstream; not verified yet',
      readyAt: null,
    });
  });

  it('decidePromotion() explains a failing gate with the expression and the values it saw', () => {
    const context = buildEvidenceContext(evidence([{ keyId: 'k', role: 'release', verified: false }]));
    const decision = decidePromotion(request('staging', { context }));
    assert.equal(decision.allowed, false);
    assert.deepEqual(step(decision.steps, 'gate', 'signed'), {
      kind: 'gate',
      name: 'signed',
      expression: "signatures.exists(s, s.verified && s.role == 'release')",
      passed: false,
      detail: 'false',
      observed: { 'signatures[].verified': [false], 'signatures[].role': ['release'] },
    });
    assert.equal(step(decision.steps, 'gate', 'no-critical').passed, true);
  });

  it('decidePromotion() fails a gate that errors or does not compile, with the reason as detail', () => {
    const stage = { ...stageNamed('staging'), gates: [{ name: 'broken', expression: 'vulnerabilities.critcal == 0' }] };
    const decision = decidePromotion(request('staging', { stage }));
    const gate = step(decision.steps, 'gate', 'broken');
    assert.equal(gate.passed, false);
    assert.match(gate.detail, /^does not compile: 1:16: unknown field "critcal"/);
  });

  it('decidePromotion() counts approvals by distinct people', () => {
    const approvals = [approval('alice'), approval('alice', { at: hoursAgo(0.5) })];
    const approvalsStep = step(decidePromotion(request('production', { approvals })).steps, 'approvals');
    assert.equal(approvalsStep.passed, false);
    assert.equal(approvalsStep.detail, '1 of 2 approvals (alice)');
  });

  it('decidePromotion() does not count the author of the build nor the promoter', () => {
    const approvals = [approval('alice'), approval('dave'), approval('erin')];
    const approvalsStep = step(decidePromotion(request('production', { approvals })).steps, 'approvals');
    assert.equal(approvalsStep.passed, false);
    assert.equal(
      approvalsStep.detail,
      '1 of 2 approvals (alice); not counted: dave: the author of the build cannot approve it; erin: the promoter cannot approve their own promotion',
    );
  });

  it('decidePromotion() compares people, not tokens: another token of the author or promoter is not counted', () => {
    const approvals = [
      approval('alice#11111111'),
      approval('alice#22222222'),
      approval('dave#33333333'),
      approval('erin#44444444'),
    ];
    const req = request('production', { approvals, author: 'dave#aaaaaaaa', promoter: 'erin#bbbbbbbb' });
    const approvalsStep = step(decidePromotion(req).steps, 'approvals');
    assert.equal(approvalsStep.passed, false);
    assert.equal(
      approvalsStep.detail,
      '1 of 2 approvals (alice); not counted: dave: the author of the build cannot approve it; erin: the promoter cannot approve their own promotion',
    );
  });

  it('decidePromotion() counts the author and the promoter when the spec allows it', () => {
    const production = stageNamed('production');
    const stage = { ...production, approvals: { ...production.approvals!, allowAuthor: true, allowPromoter: true } };
    const approvals = [approval('dave'), approval('erin')];
    assert.equal(step(decidePromotion(request('production', { stage, approvals })).steps, 'approvals').passed, true);
  });

  it('decidePromotion() counts only approvers listed by name or group, for this stage, made before now', () => {
    const approvals = [
      approval('mallory'),
      approval('frank', { groups: ['release-managers'] }),
      approval('bob', { stage: 'staging' }),
      approval('alice', { at: hoursAgo(-1) }),
    ];
    const approvalsStep = step(decidePromotion(request('production', { approvals })).steps, 'approvals');
    assert.equal(approvalsStep.passed, false);
    assert.deepEqual(approvalsStep.kind === 'approvals' && approvalsStep.ignored, [
      { user: 'mallory', reason: 'not one of alice, bob, dave, erin, group:release-managers' },
    ]);
    assert.deepEqual(approvalsStep.kind === 'approvals' && approvalsStep.approvers, ['frank']);
  });

  it('decidePromotion() blocks outside the allow window and gives the next opening', () => {
    const saturday = new Date('2024-05-04T10:00:00Z');
    const decision = decidePromotion(request('production', { now: saturday }));
    assert.equal(decision.allowed, false);
    assert.equal(step(decision.steps, 'window').passed, false);
    assert.deepEqual(decision.nextOpening, new Date('2024-05-06T07:00:00Z')); // Monday 09:00 CEST
    assert.equal(step(decidePromotion(request('production')).steps, 'window').passed, true);
  });

  it('decidePromotion() fails the window step instead of throwing on a window it cannot read', () => {
    const stage = {
      ...stageNamed('production'),
      windows: [{ kind: 'allow' as const, rrule: 'FREQ=HOURLY', duration: '1h', timezone: 'UTC' }],
    };
    const window = step(decidePromotion(request('production', { stage })).steps, 'window');
    assert.equal(window.passed, false);
    assert.match(window.detail, /FREQ=HOURLY is not supported/);
  });

  it('decidePromotion() lets a hold stop automatic promotion only', () => {
    const hold = { by: 'alice', reason: 'rolled back by hand', at: hoursAgo(1) };
    const auto = decidePromotion(request('staging', { hold, trigger: 'auto', promoter: 'fixity:auto' }));
    assert.equal(auto.allowed, false);
    assert.equal(step(auto.steps, 'hold').detail, 'held by alice at 2024-05-03T09:00:00.000Z: rolled back by hand');
    const manual = decidePromotion(request('staging', { hold }));
    assert.equal(manual.allowed, true);
    assert.match(step(manual.steps, 'hold').detail, /a hold stops only automatic promotion/);
  });

  it('decidePromotion() refuses automatic promotion into a stage without auto', () => {
    const decision = decidePromotion(request('production', { trigger: 'auto', promoter: 'fixity:auto' }));
    assert.equal(decision.allowed, false);
    assert.deepEqual(step(decision.steps, 'hold', 'auto'), {
      kind: 'hold',
      name: 'auto',
      passed: false,
      detail: 'automatic promotion into production is not enabled',
    });
  });

  it('decidePromotion() gives manual and automatic promotion the same steps apart from the hold', () => {
    const manual = decidePromotion(request('staging'));
    const auto = decidePromotion(request('staging', { trigger: 'auto' }));
    assert.deepEqual(manual.steps.slice(0, -1), auto.steps.slice(0, -1));
    assert.equal(auto.allowed, true);
  });
});
