// The project file (CLI style rule 16) as a user meets it: a .fixity.yaml in the repository names the server
// for every command run anywhere below it, fixity config view --show-origin says so, and one holding a token
// is refused before anything is sent anywhere.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCLI, tempDir } from './support/server-process.ts';

test('a .fixity.yaml above the working directory names the server; config view says where it came from', async () => {
  const repo = await tempDir('fixity-project-cli-');
  await mkdir(join(repo, 'services', 'web'), { recursive: true });
  await writeFile(
    join(repo, '.fixity.yaml'),
    '# this repository deploys through the team server\nserver: https://fixity.team.example\n',
  );
  const env = { FIXITY_CONFIG_DIR: join(repo, 'config'), FIXITY_DATA: join(repo, 'none') };
  const view = await runCLI(['config', 'view', '--show-origin', '-o', 'json'], {
    env,
    cwd: join(repo, 'services', 'web'),
  });
  assert.equal(view.code, 0, view.stderr);
  const config = JSON.parse(view.stdout) as { server: { value: string; origin: string }; projectFile: string };
  assert.deepEqual(config.server, { value: 'https://fixity.team.example', origin: 'project' });
  assert.equal(config.projectFile, join(repo, '.fixity.yaml'));
  const flagged = await runCLI(['config', 'view', '-o', 'json', '--server', 'http://127.0.0.1:9'], { env, cwd: repo });
  assert.equal((JSON.parse(flagged.stdout) as { server: { origin: string } }).server.origin, 'flag');

  await writeFile(join(repo, '.fixity.yaml'), 'server: https://fixity.team.example\ntoken: fxt_should_not_be_here\n');
  const refused = await runCLI(['config', 'view'], { env, cwd: repo });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /holds a token/);
  assert.ok(!refused.stderr.includes('fxt_should_not_be_here'), 'the token is not echoed');
});
