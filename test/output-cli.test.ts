// Output formats and help topics (CLI style rules 4, 18 and 20) against a running `fixity serve`: -o json is
// --json, yaml the same envelope, jsonl one item per line, name one name per line; a machine format turns
// errors into one JSON line on stderr; `fixity version -o json` names the server's version; the help topics
// exit-codes, output and environment print, and an unknown topic is a usage error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`output formats and help topics (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess({ database });
      for (const name of ['ci', 'laptop'])
        json(await server.cli(['token', 'create', '--name', name, '--scope', 'pull', '--json']), `token ${name}`);
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('-o json is --json; yaml is the same envelope; jsonl one item per line; name one name per line', async () => {
      const viaFlag = json<{ kind: string; items: Array<{ name: string }> }>(
        await server.cli(['token', 'list', '--json']),
        '--json',
      );
      const viaOutput = json<typeof viaFlag>(await server.cli(['token', 'list', '-o', 'json']), '-o json');
      assert.deepEqual(viaOutput, viaFlag);
      assert.equal(viaFlag.kind, 'TokenList');
      const names = viaFlag.items.map((t) => t.name);
      assert.ok(names.includes('ci') && names.includes('laptop'), names.join(' '));

      const yaml = await server.cli(['token', 'list', '--output', 'yaml']);
      assert.equal(yaml.code, 0, yaml.stderr);
      assert.deepEqual(YAML.parse(yaml.stdout), viaFlag);

      const jsonl = await server.cli(['token', 'list', '-o', 'jsonl']);
      const lines = jsonl.stdout.trimEnd().split('\n');
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { name: string }).name),
        names,
      );

      const byName = await server.cli(['token', 'list', '--output=name']);
      assert.deepEqual(byName.stdout.trimEnd().split('\n'), names);
      const one = await server.cli(['user', 'whoami', '-o', 'name']);
      assert.equal(one.stdout, 'Whoami\n', 'an object with no name of its own prints its kind');
    });

    test('text tables: aligned with relative times on a terminal, tab-separated with RFC 3339 times elsewhere', async () => {
      const piped = await server.cli(['token', 'list']);
      assert.equal(piped.code, 0, piped.stderr);
      const row = piped.stdout.split('\n').find((l) => l.includes('\tci\t'));
      assert.match(row ?? '', /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\t-\tactive$/, piped.stdout);
      const terminal = await server.cli(['token', 'list'], { env: { FIXITY_FORCE_TTY: '1' } });
      const line = terminal.stdout.split('\n').find((l) => / ci /.test(l));
      assert.match(line ?? '', /(?:just now|\d+s ago|\d+m ago) +- +active$/, terminal.stdout);
      assert.ok(!(line ?? '').includes('\t'));
      const utc = await server.cli(['token', 'list', '--utc'], { env: { FIXITY_FORCE_TTY: '1' } });
      assert.match(utc.stdout.split('\n').find((l) => / ci /.test(l)) ?? '', / \d{4}-\d\d-\d\dT[\d:.]+Z +- +active$/);
    });

    test('a machine format makes errors one JSON line on stderr; an unknown format is a usage error', async () => {
      const failed = await server.cli(['env', 'show', 'nowhere', '-o', 'yaml']);
      assert.equal(failed.code, 1);
      assert.equal(failed.stdout, '');
      assert.equal((JSON.parse(failed.stderr) as { error: { code: string } }).error.code, 'NOT_FOUND');
      const bogus = await server.cli(['token', 'list', '-o', 'xml']);
      assert.equal(bogus.code, 2);
      assert.match(bogus.stderr, /the formats are text, json, yaml, name, jsonl/);
    });

    test("fixity version -o json names this CLI's and the server's version", async () => {
      const v = json<{ kind: string; version: string; server: { url: string; version: string } | null }>(
        await server.cli(['version', '-o', 'json']),
        'version',
      );
      assert.equal(v.kind, 'Version');
      assert.equal(v.server?.url, server.url);
      assert.equal(v.server?.version, v.version);
      const offline = json<{ server: unknown }>(
        await server.cli(['version', '--json', '--server', 'http://127.0.0.1:1'], { bare: true }),
        'version offline',
      );
      assert.equal(offline.server, null);
    });

    test('help topics print; help for a command still works; an unknown topic exits 2', async () => {
      const codes = await server.cli(['help', 'exit-codes'], { bare: true });
      assert.match(codes.stdout, /^ {2}7 {4}verification failed/m);
      assert.match(codes.stdout, /^ {2}5 {4}timed out while waiting/m);
      assert.match((await server.cli(['help', 'environment'], { bare: true })).stdout, /FIXITY_NO_PROMPT=1/);
      assert.match((await server.cli(['help', 'output'], { bare: true })).stdout, /jsonl {2}one JSON object per line/);
      assert.match((await server.cli(['help', 'env', 'delete'], { bare: true })).stdout, /Usage: fixity env delete/);
      const unknown = await server.cli(['help', 'nope'], { bare: true });
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /the topics are exit-codes, output, environment/);
    });
  });
}
