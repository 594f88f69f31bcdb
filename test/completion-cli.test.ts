// `fixity completion`: the bash script, loaded into a real bash, completes subcommands at every depth, the
// options of the command typed so far and the global ones; zsh loads the same through bashcompinit; fish
// gets one `complete` line per subcommand list and option. An unknown shell is a usage error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { runCLI } from './support/server-process.ts';

/** What bash offers for `line` (the cursor at its end), with the script loaded. */
function complete(script: string, line: string): string[] {
  const words = line.split(' ');
  const program = `${script}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_fixity_completion
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', program], { encoding: 'utf8' });
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
