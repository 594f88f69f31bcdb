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
if (Number(process.versions.node.split('.')[0]) < 24) {
  if (!existsSync(pinned)) {
    process.stderr.write('error: fixity needs Node 24 or newer\n  fix: run `npm install` in the fixity checkout\n');
    process.exit(1);
  }
  // This same file again, on Node 24.
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));
}
// Node's compile cache keeps each module's stripped TypeScript and compiled code on disk, keyed by its source
// (`fixity version` 0.5 -> 0.3 s). Per user, beside the build cache; NODE_COMPILE_CACHE or
// NODE_DISABLE_COMPILE_CACHE set by the user win.
if (process.env.NODE_COMPILE_CACHE === undefined && process.env.NODE_DISABLE_COMPILE_CACHE === undefined) {
  nodeModule.enableCompileCache(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fixity', 'compile'));
}
// Every command runs in this process: a second Node start-up would cost as much again as loading the CLI. A
// build that must read its sources starts one anyway, with its memory settings (src/cli/commands/build.ts).
await import(join(root, 'src', 'cli', 'main.ts'));
