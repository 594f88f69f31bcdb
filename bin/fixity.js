#!/usr/bin/env node
// Runs the CLI on the Node that npm pinned (node@24 in devDependencies), whatever `node` is first on PATH.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
const node = Number(process.versions.node.split('.')[0]) >= 24 ? process.execPath : existsSync(pinned) ? pinned : null;
if (node === null) {
  process.stderr.write('error: fixity needs Node 24 or newer\n  fix: run `npm install` in the fixity checkout\n');
  process.exit(1);
}
const r = spawnSync(node, [join(root, 'src', 'cli', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));
