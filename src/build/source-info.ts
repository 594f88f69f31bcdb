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
    return (await run('git', ['-C', dir, ...args], { env: { ...process.env, LC_ALL: 'C' } })).stdout.trim();
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
  const revision = await git(dir, 'rev-parse', 'HEAD');
  const status = revision === null ? null : await git(dir, 'status', '--porcelain', '--untracked-files=no');
  const clean = revision !== null && status === '';
  const remote = revision === null ? null : await git(dir, 'config', '--get', 'remote.origin.url');
  const repository = remote === null || remote === '' ? null : remote.replace(/\/\/[^@/]+@/, '//');
  if (options.sourceDateEpoch !== undefined) {
    return { sourceDateEpoch: options.sourceDateEpoch, epochFrom: 'SOURCE_DATE_EPOCH', repository, revision, clean };
  }
  if (clean) {
    const time = await git(dir, 'log', '-1', '--format=%ct');
    if (time !== null && /^\d+$/.test(time))
      return { sourceDateEpoch: Number(time), epochFrom: 'git-commit', repository, revision, clean };
  }
  return { sourceDateEpoch: 0, epochFrom: 'default-zero', repository, revision, clean };
}
