// `fixity completion`: the bash script, loaded into a real bash, completes subcommands at every depth, the
// options of the command typed so far and the global ones, and environments and stages from a running server
// (nothing, quickly, when none answers); zsh loads the same through bashcompinit; fish gets one `complete`
// line per subcommand list and option. An unknown shell is a usage error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aliasOf } from '../src/core/index.ts';
import { makeImage, pushImage } from './e2e/registry-client.ts';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { CLI, NODE, runCLI, type ServerProcess, startServerProcess, tempDir } from './support/server-process.ts';

/** What bash offers for `line` (the cursor at its end), with the script loaded. */
function complete(script: string, line: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const words = line.split(' ');
  const program = `${script}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_fixity_completion
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', program], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((w) => w !== '');
}

describe('fixity completion', () => {
  test('bash completes subcommands, then the options of the command and the global ones', async () => {
    const out = await runCLI(['completion', 'bash']);
    assert.equal(out.code, 0, out.stderr);
    const script = out.stdout;
    assert.deepEqual(complete(script, 'fixity rol').sort(), ['rollback', 'rollout']);
    assert.deepEqual(complete(script, 'fixity rollout ').sort(), ['abort', 'pause', 'promote', 'resume', 'status']);
    const no = complete(script, 'fixity build --no');
    assert.ok(no.includes('--no-cache') && no.every((o) => o.startsWith('--no')), no.join(' '));
    assert.deepEqual(complete(script, 'fixity env delete staging --y'), ['--yes']);
    assert.ok(complete(script, 'fixity env delete staging --').includes('--json'), 'global options too');
    assert.ok(complete(script, 'fixity ').includes('doctor'));
  });

  test('zsh loads the bash function through bashcompinit; fish gets complete lines', async () => {
    const zsh = await runCLI(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef fixity\n/);
    assert.match(zsh.stdout, /bashcompinit/);
    assert.match(zsh.stdout, /complete -o filenames -F _fixity_completion fixity/);
    const fish = await runCLI(['completion', 'fish']);
    assert.match(fish.stdout, /^complete -c fixity -n '__fish_use_subcommand' -a '.*\bdeploy\b.*'$/m);
    assert.match(
      fish.stdout,
      /^complete -c fixity -n '__fish_seen_subcommand_from rollout; and not __fish_seen_subcommand_from status pause resume abort promote' -a 'status pause resume abort promote'$/m,
    );
    assert.match(fish.stdout, /^complete -c fixity -n '__fish_seen_subcommand_from build; .*' -l no-cache$/m);
  });

  test('an unknown shell is a usage error that names the known ones', async () => {
    const out = await runCLI(['completion', 'tcsh']);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /bash, zsh and fish are known/);
  });
});

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity completion of live values (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    let script: string;
    let digest: string;
    // The shell finds `fixity` on its PATH, talks to this server, and caches in a directory of its own.
    const shell = (serverUrl: string) => ({
      ...process.env,
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      FIXITY_SERVER: serverUrl,
      FIXITY_TOKEN: server.token,
      XDG_CACHE_HOME: join(dir, 'cache'),
    });

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-completion-');
      const cli = (args: string[]) => server.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });
      const image = makeImage('completion');
      digest = image.digest;
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'app', '1.0.0', image)).status, 201);
      await writeFile(
        join(dir, 'pipeline.yaml'),
        'name: app\nstages:\n  - name: build\n  - name: staging\n    from: [build]\n',
      );
      json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline');
      for (const env of ['staging', 'preview']) {
        await writeFile(
          join(dir, `${env}.yaml`),
          `apiVersion: fixity.dev/v1\nkind: Environment\nname: ${env}\nstage: staging\nservices:\n  - name: web\n    image: { repository: app, digest: "${image.digest}" }\n`,
        );
        json(await cli(['env', 'apply', join(dir, `${env}.yaml`), '--json']), `apply ${env}`);
      }
      await mkdir(join(dir, 'bin'));
      await writeFile(join(dir, 'bin', 'fixity'), `#!/bin/sh\nexec "${NODE}" "${CLI}" "$@"\n`);
      await chmod(join(dir, 'bin', 'fixity'), 0o755);
      script = (await runCLI(['completion', 'bash'])).stdout;
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('environments and stages complete from the server where a command takes them', async () => {
      const env = shell(server.url);
      assert.deepEqual(complete(script, 'fixity deploy ', env).sort(), ['preview', 'staging']);
      assert.deepEqual(complete(script, 'fixity rollout status st', env), ['staging']);
      assert.deepEqual(complete(script, 'fixity --json env delete p', env), ['preview'], 'after a global flag');
      assert.deepEqual(complete(script, 'fixity promote x --to ', env).sort(), ['build', 'staging']);
      assert.deepEqual(complete(script, 'fixity hold s', env), ['staging']);
      assert.deepEqual(complete(script, 'fixity promote ', env), [aliasOf(digest)], 'recent images by alias');
      assert.deepEqual(complete(script, `fixity status ${aliasOf(digest)!.slice(0, 3)}`, env), [aliasOf(digest)]);
      const cache = JSON.parse(await readFile(join(dir, 'cache', 'fixity', 'completion.json'), 'utf8')) as Record<
        string,
        { values: string[] }
      >;
      assert.deepEqual(cache[`${server.url} environments`]?.values.sort(), ['preview', 'staging']);
    });

    test('saved contexts complete from this machine, for context use and --context', async () => {
      const config = join(dir, 'ctx-config');
      await mkdir(config, { recursive: true });
      const hosts = {
        current: null,
        hosts: {
          'https://prod.example': { token: 't', user: 'u', savedAt: '', name: 'prod' },
          'https://stage.example': { token: 't', user: 'u', savedAt: '', name: 'preprod' },
        },
      };
      await writeFile(join(config, 'hosts.json'), JSON.stringify(hosts), { mode: 0o600 });
      const env = { ...shell('http://127.0.0.1:1'), FIXITY_CONFIG_DIR: config };
      assert.deepEqual(complete(script, 'fixity context use ', env).sort(), ['preprod', 'prod']);
      assert.deepEqual(complete(script, 'fixity --context pro', env), ['prod']);
    });

    test('a server that does not answer completes nothing, quickly and silently', () => {
      const started = Date.now();
      assert.deepEqual(complete(script, 'fixity deploy ', shell('http://127.0.0.1:1')), []);
      assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    });
  });
}
