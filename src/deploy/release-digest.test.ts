import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJSON, type Digest, digestOf } from '../core/index.ts';
import { parseEnvironment } from './environment-spec.ts';
import { configDigest, releaseConfig, releaseDigest } from './release-digest.ts';

const ENVIRONMENT_YAML = `
apiVersion: fixity.dev/v1
kind: Environment
name: staging
stage: staging
services:
  - name: hello
    image: { repository: hello, stage: staging }
    replicas: 3
    port: 8080
    env: { GREETING: hi }
    secrets: [ { name: DB_PASSWORD, ref: "vault://kv/hello#db" } ]
    health:
      readiness: { path: /healthz, intervalMs: 1000 }
      liveness: { path: /healthz, intervalMs: 5s }
      startupTimeoutMs: 30000
    router: { port: 0 }
    strategy:
      canary:
        steps: [ { setWeight: 20 } ]
  - name: worker
    image: { repository: worker, stage: staging }
`;

const IMAGE = `sha256:${'a'.repeat(64)}` as Digest;

function digestsOf(yaml: string): { config: Digest; release: Digest } {
  const env = parseEnvironment(yaml);
  const config = configDigest(releaseConfig(env.services[0]!, env));
  return { config, release: releaseDigest(IMAGE, config) };
}

describe('releaseConfig()', () => {
  it('releaseConfig() keeps env, port, health and secret references, not replicas, strategy or router', () => {
    const env = parseEnvironment(ENVIRONMENT_YAML);
    const config = releaseConfig(env.services[0]!, env);
    assert.deepEqual(Object.keys(config).sort(), ['env', 'health', 'port', 'secrets']);
    assert.deepEqual(config.env, { GREETING: 'hi' });
    assert.deepEqual(config.secrets, [{ name: 'DB_PASSWORD', ref: 'vault://kv/hello#db' }]);
    assert.equal(config.health.liveness?.intervalMs, 5000);
    const worker = releaseConfig(env.services[1]!, env);
    assert.equal('liveness' in worker.health, false, 'no liveness key when none is configured');
  });
});

describe('releaseDigest()', () => {
  const base = digestsOf(ENVIRONMENT_YAML);

  it('releaseDigest() is sha256 of the canonical {"config","image"} JSON', () => {
    assert.equal(base.release, digestOf(`{"config":"${base.config}","image":"${IMAGE}"}`));
    assert.match(base.config, /^sha256:[0-9a-f]{64}$/);
  });

  it('releaseDigest() changes with env, port, health and secrets', () => {
    for (const changed of [
      ENVIRONMENT_YAML.replace('GREETING: hi', 'GREETING: hello'),
      ENVIRONMENT_YAML.replace('port: 8080', 'port: 8081'),
      ENVIRONMENT_YAML.replace('path: /healthz, intervalMs: 1000', 'path: /ready, intervalMs: 1000'),
      ENVIRONMENT_YAML.replace('vault://kv/hello#db', 'vault://kv/hello#db2'),
    ]) {
      assert.notEqual(digestsOf(changed).release, base.release, changed);
    }
    assert.notEqual(releaseDigest(`sha256:${'b'.repeat(64)}`, base.config), base.release);
  });

  it('releaseDigest() does not change with replicas, strategy, router port or spelling of defaults', () => {
    for (const same of [
      ENVIRONMENT_YAML.replace('replicas: 3', 'replicas: 7'),
      ENVIRONMENT_YAML.replace('router: { port: 0 }', 'router: { port: 9000 }'),
      ENVIRONMENT_YAML.replace('- setWeight: 20', '- setWeight: 30'),
      ENVIRONMENT_YAML.replace('intervalMs: 5s', 'intervalMs: 5000'),
      ENVIRONMENT_YAML.replace('startupTimeoutMs: 30000', ''),
    ]) {
      assert.deepEqual(digestsOf(same), base, same);
    }
  });

  it('configDigest() is stable across key order of env and secret order', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string(), { maxKeys: 8 }),
        fc.uniqueArray(fc.stringMatching(/^S_[A-Z0-9]{1,6}$/), { maxLength: 5 }),
        (vars, secretNames) => {
          const env = parseEnvironment(ENVIRONMENT_YAML);
          const service = env.services[0]!;
          const secrets = secretNames.map((name) => ({ name, ref: `vault://${name}` }));
          const a = { ...service, env: vars, secrets };
          const reversed = Object.fromEntries(Object.entries(vars).reverse());
          const b = { ...service, env: reversed, secrets: [...secrets].reverse() };
          const da = configDigest(releaseConfig(a, env));
          assert.equal(da, configDigest(releaseConfig(b, env)));
          assert.equal(da, digestOf(canonicalJSON(releaseConfig(a, env))));
        },
      ),
    );
  });
});
