#!/usr/bin/env node
// Runs the CLI on the Node that npm pinned (node@24 in devDependencies), whatever `node` is first on PATH.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
const node = Number(process.versions.node.split('.')[0]) >= 24 ? process.execPath : existsSync(pinned) ? pinned : null;
if (node === null) {
  process.stderr.write('error: fixity needs Node 24 or newer\n  fix: run `npm install` in the fixity checkout\n');
  process.exit(1);
}
// A build allocates fast and keeps little, and V8 sizes the young generation by the machine's memory (three
// semi-spaces of up to 32-64 MiB): on a 90k-file tree that was a quarter of the peak RSS. 4 MiB semi-spaces
// took 115 MiB off the peak of a cold build (460 -> 340 MiB) and no time. --expose-gc lets a build collect
// between its steps (build.ts, collectGarbage), so one step's garbage outside the heap is not under the next's peak.
const flags = process.argv[2] === 'build' ? ['--max-semi-space-size=4', '--expose-gc'] : [];
// Node's compile cache keeps each module's stripped TypeScript and compiled code on disk, keyed by its source
// (`fixity version` 0.5 -> 0.3 s). Per user, beside the build cache; NODE_COMPILE_CACHE or
// NODE_DISABLE_COMPILE_CACHE set by the user win.
const env = { ...process.env };
if (env.NODE_COMPILE_CACHE === undefined && env.NODE_DISABLE_COMPILE_CACHE === undefined)
  env.NODE_COMPILE_CACHE = join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fixity', 'compile');
const main = join(root, 'src', 'cli', 'main.ts');
// On Node 24 already, every command but a build (its V8 flag must be set at process start) runs in this
// process: a second Node start-up would cost as much again as loading the CLI.
if (node === process.execPath && flags.length === 0) {
  if (env.NODE_COMPILE_CACHE !== undefined) nodeModule.enableCompileCache(env.NODE_COMPILE_CACHE);
  await import(main);
} else {
  const r = spawnSync(node, [...flags, main, ...process.argv.slice(2)], { stdio: 'inherit', env });
  process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));
}
