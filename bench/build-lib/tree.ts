/**
 * The benchmark's source tree: a node_modules of ~90k files and ~270 MB, made once by npm from a fixed
 * package list and lock file (bench/build-lib/tree-package*.json), cached under bench/.work/build/tree, with a
 * fixity.yaml packaging it as one layer at /app/node_modules.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const here = import.meta.dirname;
const MARKER = '.fixity-bench-tree';
const FIXITY_YAML = `# Written by bench/build.ts: the installed node_modules as one layer.
name: bench-node-modules
version: 1.0.0
base: scratch
layers:
  - from: node_modules
    to: /app/node_modules
`;

export interface Tree {
  /** Directory holding fixity.yaml and node_modules. */
  dir: string;
  files: number;
  directories: number;
  /** Sum of the regular files' sizes. */
  bytes: number;
}

/** Installs the tree into `dir` unless the same package list is already installed there; returns its size. */
export async function ensureTree(dir: string, log: (message: string) => void): Promise<Tree> {
  const manifest = await readFile(join(here, 'tree-package.json'));
  const lock = await readFile(join(here, 'tree-package-lock.json'));
  const id = createHash('sha256').update(manifest).update(lock).update(FIXITY_YAML).digest('hex');
  const marker = join(dir, MARKER);
  if (!existsSync(marker) || (await readFile(marker, 'utf8')) !== id) {
    log(`installing the benchmark tree into ${dir} (npm install, once)`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await copyFile(join(here, 'tree-package.json'), join(dir, 'package.json'));
    await copyFile(join(here, 'tree-package-lock.json'), join(dir, 'package-lock.json'));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await writeFile(join(dir, 'fixity.yaml'), FIXITY_YAML);
    await writeFile(marker, id);
    // A file changed within 2 s of a build is hashed again by the next one (racy git); let the install age.
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
  const count = (type: string, printf: string) =>
    execFileSync('find', [join(dir, 'node_modules'), '-type', type, '-printf', printf], { maxBuffer: 1 << 30 });
  const sizes = count('f', '%s\n').toString().trim().split('\n');
  return {
    dir,
    files: sizes.length,
    directories: count('d', '.').byteLength,
    bytes: sizes.reduce((sum, s) => sum + Number(s), 0),
  };
}
