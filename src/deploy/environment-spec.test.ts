import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import type { DeployError } from './deploy-error.ts';
import { environmentSpecJSONSchema, parseEnvironment, parseEnvironmentSpec } from './environment-spec.ts';

const ENVIRONMENT_YAML = `
apiVersion: fixity.dev/v1
kind: Environment
name: staging
stage: staging
services:
  - name: hello
    image: { repository: hello, digest: sha256:${'a'.repeat(64)} }
    replicas: 3
    port: 8080
    env: { GREETING: hi }
    secrets: [ { name: DB_PASSWORD, ref: "vault://kv/hello#db" } ]
    health:
      readiness: { path: /healthz, intervalMs: 1000, timeoutMs: 1000, failureThreshold: 3 }
      liveness:  { path: /healthz, intervalMs: 5s, timeoutMs: 1000, failureThreshold: 3 }
      startupTimeoutMs: 30000
    router: { port: 0 }
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: { durationMs: 10s }
          - pause: { untilApproved: true }
          - analysis: { intervalMs: 2000, count: 5, failureLimit: 1, minRequests: 20, thresholds: { successRate: 0.99, p99Ms: 500 } }
        analysis: { compare: false }
  - name: worker
    image: { repository: team/worker, stage: staging }
`;

function issues(text: string): readonly string[] {
  try {
    parseEnvironment(text);
  } catch (err) {
    assert.ok(isErrorWithCode(err, 'SPEC_INVALID'), String(err));
    return (err as DeployError).issues;
  }
  assert.fail('expected SPEC_INVALID');
}

describe('parseEnvironment()', () => {
  it('parseEnvironment() reads the full example with durations in ms and as strings', () => {
    const env = parseEnvironment(ENVIRONMENT_YAML);
    const hello = env.services[0]!;
    assert.deepEqual(hello.image, { kind: 'digest', repository: 'hello', digest: `sha256:${'a'.repeat(64)}` });
    assert.equal(hello.health.liveness?.intervalMs, 5000);
    assert.deepEqual(hello.secrets, [{ name: 'DB_PASSWORD', ref: 'vault://kv/hello#db' }]);
    assert.equal(hello.strategy.kind, 'canary');
    if (hello.strategy.kind !== 'canary') return;
    assert.deepEqual(hello.strategy.steps.slice(0, 3), [
      { kind: 'setWeight', weight: 20 },
      { kind: 'pause', durationMs: 10_000 },
      { kind: 'pause', durationMs: null },
    ]);
    const inline = hello.strategy.steps[3];
    assert.equal(inline?.kind === 'analysis' && inline.analysis.compare?.test, 'mann-whitney');
    assert.equal(hello.strategy.analysis?.compare, null);
  });

  it('parseEnvironment() fills defaults: rolling 1/0, readiness GET /, startup 30 s, router port 0', () => {
    const worker = parseEnvironment(ENVIRONMENT_YAML).services[1]!;
    assert.deepEqual(worker.image, { kind: 'stage', repository: 'team/worker', stage: 'staging' });
    assert.equal(worker.replicas, 1);
    assert.equal(worker.port, 8080);
    assert.deepEqual(worker.env, {});
    assert.deepEqual(worker.strategy, { kind: 'rolling', maxSurge: 1, maxUnavailable: 0 });
    assert.deepEqual(worker.health, {
      readiness: { path: '/', intervalMs: 1000, timeoutMs: 1000, failureThreshold: 3 },
      startupTimeoutMs: 30_000,
    });
    assert.deepEqual(worker.router, { port: 0 });
  });

  it('parseEnvironment() defaults an analysis to a Mann-Whitney comparison at 95% confidence', () => {
    const env = parseEnvironment(ENVIRONMENT_YAML.replace('analysis: { compare: false }', 'analysis: {}'));
    const strategy = env.services[0]!.strategy;
    assert.ok(strategy.kind === 'canary');
    assert.deepEqual(strategy.analysis, {
      intervalMs: 10_000,
      count: 5,
      failureLimit: 0,
      inconclusiveLimit: 5,
      minRequests: 20,
      thresholds: { successRate: 0.99 },
      compare: { test: 'mann-whitney', metric: 'both', confidence: 0.95, direction: 'increase' },
    });
  });

  it('parseEnvironment() names the key path of an unknown key and lists the known ones', () => {
    assert.deepEqual(issues(ENVIRONMENT_YAML.replace('replicas: 3', 'replicas: 3\n    replica: 2')), [
      'services[0].replica: unknown key; expected one of name, image, replicas, port, env, secrets, health, router, strategy',
    ]);
  });

  it('parseEnvironment() says what was expected for wrong values', () => {
    assert.deepEqual(issues(ENVIRONMENT_YAML.replace('durationMs: 10s', 'durationMs: 10x')), [
      'services[0].strategy.canary.steps[1].pause.durationMs: a duration: milliseconds as a number, or a string such as 500ms, 10s, 5m, 1h',
    ]);
    assert.match(issues(ENVIRONMENT_YAML.replace('name: staging', 'name: Staging'))[0]!, /^name: an environment name/);
    assert.match(
      issues(ENVIRONMENT_YAML.replace('analysis: { compare: false }', 'analysis: { compare: { metric: cpu } }'))[0]!,
      /^services\[0\]\.strategy\.canary\.analysis\.compare\.metric: Invalid option/,
    );
    assert.deepEqual(issues(ENVIRONMENT_YAML.replace('kind: Environment', 'kind: Pipeline')), [
      'kind: Invalid input: expected "Environment"',
    ]);
  });

  it('parseEnvironment() requires exactly one strategy, step form and image source', () => {
    assert.deepEqual(issues(ENVIRONMENT_YAML.replace('      canary:', '      rolling: {}\n      canary:')), [
      'services[0].strategy: give exactly one of rolling, blueGreen, canary (found rolling, canary)',
    ]);
    assert.deepEqual(
      issues(ENVIRONMENT_YAML.replace('- setWeight: 20', '- { setWeight: 20, pause: { durationMs: 1 } }')),
      [
        'services[0].strategy.canary.steps[0]: a step has exactly one of setWeight, pause, analysis (found setWeight, pause)',
      ],
    );
    assert.deepEqual(
      issues(ENVIRONMENT_YAML.replace('stage: staging }', `stage: staging, digest: sha256:${'b'.repeat(64)} }`)),
      ['services[1].image: give exactly one of digest or stage'],
    );
    assert.deepEqual(
      issues(
        ENVIRONMENT_YAML.replace('      canary:', '      rolling: { maxSurge: 0, maxUnavailable: 0 }\n      xcanary:'),
      ),
      [
        'services[0].strategy.rolling: maxSurge and maxUnavailable cannot both be 0',
        'services[0].strategy.xcanary: unknown key; expected one of rolling, blueGreen, canary',
      ],
    );
  });

  it('parseEnvironment() reports duplicate services, router ports and env/secret clashes', () => {
    const dup =
      ENVIRONMENT_YAML.replace('name: worker', 'name: hello').replace('router: { port: 0 }', 'router: { port: 9000 }') +
      '    router: { port: 9000 }\n    env: { PORT: "1" }\n    secrets: [ { name: PORT, ref: x } ]\n';
    assert.deepEqual(issues(dup), [
      'services[1].name: "hello" is already the name of services[0]',
      'services[1].router.port: 9000 is already the router port of services[0]',
      'services[1].env.PORT: set from port; remove it from env',
      'services[1].secrets[0].name: PORT is also set in env; give it one source',
    ]);
  });

  it('parseEnvironment() rejects duplicate YAML keys and names the file', () => {
    assert.throws(
      () => parseEnvironment('name: a\nname: b\n', 'envs/staging.yaml'),
      (err: DeployError) => err.code === 'SPEC_INVALID' && err.message.startsWith('Cannot use envs/staging.yaml:'),
    );
  });

  it('parseEnvironmentSpec() accepts a JSON body the same way', () => {
    const env = parseEnvironmentSpec({
      apiVersion: 'fixity.dev/v1',
      kind: 'Environment',
      name: 'prod',
      stage: 'production',
    });
    assert.deepEqual(env.services, []);
  });
});

describe('environmentSpecJSONSchema()', () => {
  it('environmentSpecJSONSchema() matches schema/environment.schema.json (run `npm run schema` after changing the spec)', () => {
    const onDisk = JSON.parse(readFileSync(new URL('../../schema/environment.schema.json', import.meta.url), 'utf8'));
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(environmentSpecJSONSchema())));
  });
});
