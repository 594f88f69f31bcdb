import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./main.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));

const PIPELINE = `# The demo pipeline: a digest is built, must be signed to reach test, and moves on to staging.
name: demo
stages:
  - name: build
  - name: test
    from: [build]
    gates:
      - name: signed
        expression: "signatures.exists(s, s.verified && s.role == 'signer')"
  - name: staging
    from: [test]
`;

/** The demo environment: 3 replicas of hello behind a router; new releases arrive as a canary. */
function environment(digest: string, greeting: string): string {
  return `apiVersion: fixity.dev/v1
kind: Environment
name: staging
stage: staging
services:
  - name: hello
    image: { repository: hello, digest: "${digest}" }
    replicas: 3
    port: 8080
    env: { GREETING: "${greeting}" }
    health:
      readiness: { path: /healthz, intervalMs: 500 }
    strategy:
      canary:
        steps:
          - setWeight: 25
          - pause: { untilApproved: true }
          - analysis: { intervalMs: 5000, count: 2, minRequests: 10, thresholds: { successRate: 0.95 }, compare: false }
`;
}

interface Step {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `npm start`'s demo, run by `fixity up` once the server listens: builds examples/hello, signs it,
 * promotes it through test and staging, deploys 3 replicas to a local `staging` environment and starts a
 * canary of a second release that waits for you. Every step is the real CLI against the real server, so
 * it is exactly what the README shows. Safe to run again: each step is idempotent.
 */
export async function runDemo(opts: {
  url: string;
  tokenFile: string;
  dataDir: string;
  say: (line: string) => void;
}): Promise<{ routerUrl: string | null }> {
  const work = join(opts.dataDir, 'demo');
  await mkdir(work, { recursive: true });
  const host = opts.url.replace(/^https?:\/\//, '');
  const run = (args: string[]): Promise<Step> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: {
          ...process.env,
          FIXITY_SERVER: opts.url,
          FIXITY_DATA: opts.dataDir,
          FIXITY_TOKEN: readFileSync(opts.tokenFile, 'utf8').trim(),
          FIXITY_CONFIG_DIR: join(work, 'config'),
          // One build, once: no file watcher is left running after `fixity down`.
          FIXITY_BUILD_WATCH: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  const must = async (what: string, args: string[], ok: readonly number[] = [0]): Promise<Step> => {
    const r = await run(args);
    if (!ok.includes(r.code ?? -1))
      throw new Error(
        `demo: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`,
      );
    return r;
  };
  const jsonOf = <T>(r: Step) => JSON.parse(r.stdout) as T;

  opts.say('▶ demo: building examples/hello (reproducible, with provenance and SBOM)');
  const built = jsonOf<{ digest: string }>(
    await must('build', ['build', EXAMPLE, '--push', `${host}/hello:1.0.0`, '--json']),
  );
  const ref = `${host}/hello@${built.digest}`;
  opts.say(`  ${ref}`);

  const key = join(work, 'signer');
  if (!existsSync(`${key}.key`)) {
    await must('key generate', ['key', 'generate', '--out', key, '--json']);
    await must('key register', ['key', 'register', `${key}.pub`, '--role', 'signer', '--json']);
  }
  opts.say('▶ demo: signing it, then promoting build → test → staging');
  await must('sign', ['sign', ref, '--key', `${key}.key`, '--json']);
  await writeFile(join(work, 'pipeline.yaml'), PIPELINE);
  await must('pipeline apply', ['pipeline', 'apply', join(work, 'pipeline.yaml'), '--json']);
  for (const stage of ['build', 'test', 'staging']) {
    // 6: already promoted there (a second `npm start`), which is fine.
    await must(`promote to ${stage}`, ['promote', ref, '--to', stage, '--json'], [0, 6]);
  }

  opts.say('▶ demo: deploying 3 replicas of v1 to the local staging environment');
  const envFile = join(work, 'staging.yaml');
  await writeFile(envFile, environment(built.digest, 'hello from v1'));
  await must('env apply', ['env', 'apply', envFile, '--json']);
  await must('deploy v1', ['deploy', 'staging', '--wait', '--timeout', '120', '--json'], [0, 6]);

  opts.say('▶ demo: starting a canary of v2 (same digest, new config = a new release): 25% of traffic');
  await writeFile(envFile, environment(built.digest, 'hello from v2'));
  await must('env apply', ['env', 'apply', envFile, '--json']);
  await must('deploy v2', ['deploy', 'staging', '--json'], [0, 6]);
  const status = jsonOf<{ services: Array<{ url: string | null }> }>(
    await must('status', ['rollout', 'status', 'staging', 'hello', '--json']),
  );
  return { routerUrl: status.services[0]?.url ?? null };
}
