// `fixity login` and `fixity logout` against a running `fixity serve`: a token is checked before it is saved
// (a refused one exits 4 and saves nothing), saved per server in a 0600 file and never printed, sent by later
// commands that name no token, asked for without echo on a terminal, and forgotten by logout. A command
// piped into `head` stops quietly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import {
  CLI,
  NODE,
  ROOT,
  runCLIOnTerminal,
  type ServerProcess,
  startServerProcess,
  tempDir,
} from './support/server-process.ts';

interface Hosts {
  current: string | null;
  hosts: Record<string, { token: string; user: string }>;
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity login and logout (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    // No --server, no --token: what a user types after logging in. An empty data dir, so the checkout's
    // own .fixity (from npm start) is not what answers.
    const env = () => ({ FIXITY_CONFIG_DIR: join(dir, 'config'), FIXITY_DATA: join(dir, 'data') });
    const bare = (args: string[], input?: string) =>
      server.cli(args, { bare: true, env: env(), ...(input === undefined ? {} : { input }) });
    const hosts = async () => JSON.parse(await readFile(join(dir, 'config', 'hosts.json'), 'utf8')) as Hosts;

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-login-');
      await mkdir(join(dir, 'data'));
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('a token the server refuses exits 4 and saves nothing', async () => {
      const refused = await bare(['login', server.url, '--with-token'], 'not-a-token\n');
      assert.equal(refused.code, 4, refused.stderr);
      assert.doesNotMatch(refused.stderr + refused.stdout, /not-a-token/);
      await assert.rejects(stat(join(dir, 'config', 'hosts.json')), { code: 'ENOENT' });
      const none = await bare(['login', server.url]);
      assert.equal(none.code, 2, 'no token and nobody to ask');
      assert.match(none.stderr, /--with-token/);
    });

    test('a good token is saved for the server, 0600, never printed, and later commands send it', async () => {
      const machine = await bare(['login', server.url, '--token-stdin', '--json'], `${server.token}\n`);
      const login = json<{ kind: string; server: string; user: string; admin: boolean }>(machine, 'login');
      assert.equal(login.kind, 'Login');
      assert.equal(login.server, server.url);
      assert.equal(login.admin, true);
      assert.ok(!machine.stdout.includes(server.token) && !machine.stderr.includes(server.token), 'not printed');
      const file = await stat(join(dir, 'config', 'hosts.json'));
      assert.equal(file.mode & 0o777, 0o600);
      const saved = await hosts();
      assert.equal(saved.current, server.url);
      assert.equal(saved.hosts[server.url]?.token, server.token);

      const view = await bare(['config', 'view', '--show-origin', '-o', 'json']);
      const config = json<{ server: { value: string; origin: string }; token: { set: boolean; origin: string } }>(
        view,
        'config view',
      );
      assert.deepEqual(config.server, { value: server.url, origin: 'login' });
      assert.deepEqual(config.token, { set: true, origin: 'login' });
      assert.ok(!view.stdout.includes(server.token), 'config view never shows the token');
      const fromEnv = await server.cli(['config', 'view', '--show-origin'], {
        bare: true,
        env: { ...env(), FIXITY_SERVER: 'http://127.0.0.1:1' },
      });
      assert.match(fromEnv.stdout, /^server\thttp:\/\/127\.0\.0\.1:1\tenv$/m);
      assert.match(fromEnv.stdout, /^token\tnone\t-$/m, 'the token saved for another server is not sent here');

      const me = json<{ admin: boolean }>(await bare(['user', 'whoami', '--json']), 'whoami with the saved token');
      assert.equal(me.admin, true);
      const named = await bare(['user', 'whoami', '--server', `${server.url}/`]);
      assert.equal(named.code, 0, `the token saved for a server named with a trailing slash: ${named.stderr}`);
    });

    test('on a terminal the token is asked for and not echoed', async () => {
      const typed = await runCLIOnTerminal(['login', server.url], server.token, env());
      assert.equal(typed.code, 0, typed.output);
      assert.match(typed.output, new RegExp(`Token for ${server.url}: `));
      assert.match(typed.output, /✔ logged in to .* as admin \(admin\)/);
      assert.match(typed.output, /Next: fixity doctor/);
      assert.ok(!typed.output.includes(server.token), 'the token is not echoed');
    });

    test('logout forgets the token; commands then have none to send', async () => {
      const out = await bare(['logout']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), `✔ logged out of ${server.url}`);
      await assert.rejects(stat(join(dir, 'config', 'hosts.json')), { code: 'ENOENT' });
      const again = await bare(['logout', server.url]);
      assert.match(again.stdout, /no token was saved/);
      const anonymous = await bare(['user', 'whoami', '--server', server.url]);
      assert.equal(anonymous.code, 4, anonymous.stderr);
    });

    test('login --name saves a context: listed, picked by --context, FIXITY_CONTEXT or context use', async () => {
      // The same server under a second URL (the API path is absolute, so the prefix is ignored by it).
      const other = `${server.url}/second`;
      json(await bare(['login', server.url, '--with-token', '--name', 'ci', '--json'], `${server.token}\n`), 'ci');
      json(await bare(['login', other, '--with-token', '--name', 'laptop', '--json'], `${server.token}\n`), 'laptop');
      const list = json<{ items: Array<{ name: string; server: string; current: boolean }> }>(
        await bare(['context', 'list', '--json']),
        'context list',
      );
      assert.deepEqual(
        list.items.map((c) => [c.name, c.server, c.current]),
        [
          ['ci', server.url, false],
          ['laptop', other, true],
        ],
      );
      const serverOf = async (args: string[], extra: NodeJS.ProcessEnv = {}) =>
        json<{ server: { value: string; origin: string } }>(
          await server.cli(['config', 'view', '-o', 'json', ...args], { bare: true, env: { ...env(), ...extra } }),
          'config view',
        ).server;
      assert.deepEqual(await serverOf([]), { value: other, origin: 'login' });
      assert.deepEqual(await serverOf(['--context', 'ci']), { value: server.url, origin: 'flag' });
      assert.deepEqual(await serverOf([], { FIXITY_CONTEXT: 'ci' }), { value: server.url, origin: 'env' });
      assert.deepEqual(await serverOf(['--server', other], { FIXITY_CONTEXT: 'gone' }), {
        value: other,
        origin: 'flag',
      });
      assert.equal((await bare(['user', 'whoami', '--context', 'ci'])).code, 0, 'its saved token is sent');

      json(await bare(['context', 'use', 'ci', '--json']), 'context use');
      assert.deepEqual(await serverOf([]), { value: server.url, origin: 'login' });
      const unknown = await bare(['user', 'whoami', '--context', 'nope']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /No context "nope": the contexts are ci, laptop/);
      const bad = await bare(['login', server.url, '--with-token', '--name', 'no spaces'], `${server.token}\n`);
      assert.equal(bad.code, 2);
    });

    test('a command piped into a reader that is already gone exits 0 without a stack trace', () => {
      // `true` exits at once, so the CLI's first write meets a closed pipe (EPIPE).
      const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" "$1" --help | true', NODE, CLI], {
        encoding: 'utf8',
        cwd: ROOT,
      });
      assert.equal(r.stderr, '', 'no EPIPE trace');
      assert.equal(r.status, 0);
    });
  });
}
