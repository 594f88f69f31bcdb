import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES, commandName, commandsFor } from './command-modules.ts';
import type { GlobalOptions } from './output.ts';

const globals = (): GlobalOptions => ({ output: 'text', json: false });
const namesOf = (program: Command) => program.commands.flatMap((c) => [c.name(), ...c.aliases()]);

describe('command modules', () => {
  test('each module adds exactly the top-level commands the table names for it, and no name is taken twice', async () => {
    for (const m of COMMAND_MODULES) {
      const program = new Command('fixity');
      (await m.load())(program, globals);
      assert.deepEqual(namesOf(program), m.names);
    }
    const all = COMMAND_MODULES.flatMap((m) => m.names);
    assert.equal(new Set(all).size, all.length);
  });

  test('commandName() skips options and the values of those that take one', () => {
    const values = new Set(['-o', '--output', '--context', '--server']);
    assert.equal(commandName(['build', '.'], values), 'build');
    assert.equal(commandName(['--json', '--context', 'build', 'deploy', 'prod'], values), 'deploy');
    assert.equal(commandName(['-o', 'json', '--server=http://x', '--utc', 'promote'], values), 'promote');
    assert.equal(commandName(['-ojson', 'verify'], values), 'verify');
    assert.equal(commandName(['--json'], values), null);
    assert.equal(commandName(['--', 'build'], values), null);
    assert.equal(commandName([], values), null);
  });

  test('commandsFor() loads the named module alone, nothing for a built-in, and all for the rest', async () => {
    const builtIn = new Set(['serve', 'version']);
    const added = async (name: string | null) => {
      const program = new Command('fixity');
      for (const add of await commandsFor(name, builtIn)) add(program, globals);
      return namesOf(program);
    };
    const every = COMMAND_MODULES.flatMap((m) => m.names);
    assert.deepEqual(await added('build'), ['build']);
    assert.deepEqual(await added('rollback'), ['deploy', 'run', 'rollout', 'rollback', 'drift']);
    assert.deepEqual(await added('serve'), []);
    assert.deepEqual(await added('completion'), every);
    assert.deepEqual(await added('__complete'), every);
    assert.deepEqual(await added('help'), every);
    assert.deepEqual(await added('buidl'), every);
    assert.deepEqual(await added(null), every);
  });
});
