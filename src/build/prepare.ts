import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BaseError } from '../core/index.ts';
import type { BuildSpec } from './spec.ts';

export class PrepareError extends BaseError<'PREPARE_FAILED'> {}

export interface PrepareRecord {
  command: string;
  env: Record<string, string>;
  network: boolean;
  sandbox: 'bubblewrap' | 'none';
  tools: Record<string, string>;
  /** Where the copy ran; outputs are read from here. */
  workdir: string;
}

const BWRAP = '/usr/bin/bwrap';

/**
 * Runs `prepare.run` in a clean temporary copy of the source (never in the source itself), with a cleared
 * environment, network off unless asked, and under bubblewrap when installed. Records what ran for provenance.
 */
export async function runPrepare(
  source: string,
  prepare: NonNullable<BuildSpec['prepare']>,
  options: { signal?: AbortSignal; onOutput?: (line: string) => void; sandbox?: boolean } = {},
): Promise<PrepareRecord> {
  const { signal, onOutput, sandbox = existsSync(BWRAP) } = options;
  const workdir = join(await mkdtemp(join(tmpdir(), 'fixity-prepare-')), 'src');
  await cp(source, workdir, { recursive: true, verbatimSymlinks: true, filter: (p) => !p.endsWith('/.git') });
  const network = prepare.network === true;
  const env = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: workdir,
    LC_ALL: 'C',
    TZ: 'UTC',
    ...prepare.env,
  };
  const argv = sandbox
    ? [
        BWRAP,
        '--ro-bind',
        '/',
        '/',
        // A fresh /tmp first, then the copy (which may itself live under /tmp) on top of it.
        '--tmpfs',
        '/tmp',
        '--bind',
        workdir,
        workdir,
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        '--unshare-pid',
        ...(network ? [] : ['--unshare-net']),
        '--die-with-parent',
        '--chdir',
        workdir,
        '/bin/sh',
        '-c',
        prepare.run,
      ]
    : ['/bin/sh', '-c', prepare.run];
  const tail: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: workdir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        for (const line of text.split('\n')) {
          if (line === '') continue;
          tail.push(line);
          if (tail.length > 20) tail.shift();
          onOutput?.(line);
        }
      });
    }
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0)
    throw new PrepareError('PREPARE_FAILED', `Cannot prepare the source: "${prepare.run}" exited with ${code}`);
  for (const out of prepare.outputs) {
    if (!existsSync(join(workdir, out))) {
      throw new PrepareError(
        'PREPARE_FAILED',
        `Cannot package prepare output "${out}": "${prepare.run}" did not create it`,
      );
    }
  }
  const tool = prepare.run.trim().split(/\s+/)[0] ?? 'sh';
  const tools: Record<string, string> = { node: process.version, [tool]: await version(tool, env.PATH) };
  return {
    command: prepare.run,
    env: prepare.env ?? {},
    network,
    sandbox: sandbox ? 'bubblewrap' : 'none',
    tools,
    workdir,
  };
}

async function version(tool: string, path: string): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(tool, ['--version'], { env: { PATH: path }, timeout: 5000 });
    return (stdout || stderr).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}
