import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the timestamps of a build come from, and what the source is. */
export interface SourceInfo {
  sourceDateEpoch: number;
  /** Which rule chose `sourceDateEpoch`; the build prints it. */
  epochFrom: 'SOURCE_DATE_EPOCH' | 'git-commit' | 'default-zero';
  repository: string | null;
  revision: string | null;
  /** True when the source is a git work tree without uncommitted changes. */
  clean: boolean;
}

async function git(dir: string, ...args: string[]): Promise<string | null> {
  try {
    // No optional locks: a status that takes .git/index.lock to refresh the index is a change under the root
    // for the file watcher (fs-watch-daemon.ts), and a race with the user's own git.
    const env = { ...process.env, LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' };
    return (await run('git', ['-C', dir, ...args], { env })).stdout.trim();
  } catch {
    return null;
  }
}

/**
 * SOURCE_DATE_EPOCH when given; else the commit time of HEAD when the source is a clean git work tree;
 * else 0. Remote URLs lose any credentials they carry before they go into provenance.
 */
export async function readSourceInfo(
  dir: string,
  options: { sourceDateEpoch?: number | undefined } = {},
): Promise<SourceInfo> {
  // One status names HEAD's commit and the changes; the remote and HEAD's commit time are asked beside it,
  // the time whether or not it is used (each git start is ~20 ms, and they run at once).
  const [status, remote, time] = await Promise.all([
    git(dir, 'status', '--porcelain=v2', '--branch', '--untracked-files=no'),
    git(dir, 'config', '--get', 'remote.origin.url'),
    options.sourceDateEpoch === undefined ? git(dir, 'log', '-1', '--format=%ct') : null,
  ]);
  const lines = status === null ? [] : status.split('\n').filter((l) => l !== '');
  const oid = lines.find((l) => l.startsWith('# branch.oid '))?.slice('# branch.oid '.length) ?? '';
  const revision = /^[0-9a-f]{40,64}$/.test(oid) ? oid : null; // "(initial)" before the first commit
  const clean = revision !== null && lines.every((l) => l.startsWith('#'));
  const repository = revision === null || remote === null || remote === '' ? null : remote.replace(/\/\/[^@/]+@/, '//');
  if (options.sourceDateEpoch !== undefined) {
    return { sourceDateEpoch: options.sourceDateEpoch, epochFrom: 'SOURCE_DATE_EPOCH', repository, revision, clean };
  }
  if (clean && time !== null && /^\d+$/.test(time))
    return { sourceDateEpoch: Number(time), epochFrom: 'git-commit', repository, revision, clean };
  return { sourceDateEpoch: 0, epochFrom: 'default-zero', repository, revision, clean };
}
