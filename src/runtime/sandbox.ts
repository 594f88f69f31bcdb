import { execFile } from 'node:child_process';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { resolveImageUser } from './image-user.ts';
import { RuntimeError } from './runtime-error.ts';

/** What this host offers: a usable bubblewrap (and whether it can map users), or nothing. */
export interface SandboxSupport {
  readonly bwrap: string | null;
  readonly userNamespace: boolean;
}

const BWRAP_PATHS = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
/** Host paths an interpreter from the host typically needs; bound read-only when the image lacks them. */
const HOST_PATHS = ['/usr', '/lib', '/lib64', '/bin', '/etc/ssl', '/etc/resolv.conf'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function succeeds(file: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(file, args, { env: {}, timeout: 10_000 }, (err) => resolve(err === null));
  });
}

/** Finds a bubblewrap that can actually create a sandbox here (`mode: 'none'` skips looking). */
export async function detectSandbox(mode: 'auto' | 'bwrap' | 'none'): Promise<SandboxSupport> {
  if (mode === 'none') return { bwrap: null, userNamespace: false };
  for (const path of BWRAP_PATHS) {
    if (!(await succeeds(path, ['--ro-bind', '/', '/', 'true']))) continue;
    const userNamespace = await succeeds(path, [
      ...['--unshare-user', '--uid', '65534', '--gid', '65534'],
      ...['--ro-bind', '/', '/', 'true'],
    ]);
    return { bwrap: path, userNamespace };
  }
  if (mode === 'bwrap') throw new RuntimeError('START_FAILED', 'Cannot sandbox: no usable bubblewrap was found');
  return { bwrap: null, userNamespace: false };
}

export interface LaunchInput {
  readonly root: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workingDir: string;
  /** The image config's User, any OCI form: names are resolved against the image's /etc/passwd and /etc/group. */
  readonly user: string;
  readonly hostBinaries: Readonly<Record<string, string>>;
  readonly support: SandboxSupport;
}

/** The exact command to spawn: `argv[0]` is an absolute host path; `env` is the spawn environment. */
export interface LaunchPlan {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly sandboxed: boolean;
  readonly notes: readonly string[];
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** Where argv[0] comes from: a path inside the image, or a host binary bound into the sandbox. */
async function resolveProgram(input: LaunchInput): Promise<{ image: string } | { host: string }> {
  const argv0 = input.argv[0]!;
  if (argv0.startsWith('/')) {
    if (await exists(join(input.root, argv0))) return { image: argv0 };
  } else if (!argv0.includes('/')) {
    for (const dir of (input.env.PATH ?? DEFAULT_PATH).split(':')) {
      if (dir.startsWith('/') && (await exists(join(input.root, dir, argv0)))) return { image: join(dir, argv0) };
    }
  }
  const host = input.hostBinaries[argv0] ?? input.hostBinaries[basename(argv0)];
  if (host === undefined) {
    throw new RuntimeError('START_FAILED', `Cannot start: "${argv0}" is neither in the image nor a known host binary`);
  }
  return { host: await realpath(host) };
}

/** Plans how to run an instance: under bubblewrap when available, otherwise as a plain child process. */
export async function planLaunch(input: LaunchInput): Promise<LaunchPlan> {
  // Resolved even when it cannot be applied, so an image whose user is unknown is refused on every host.
  const ids = await resolveImageUser(input.root, input.user);
  // HOME as runc sets it when neither the image nor the release does: the user's passwd home, root's for an
  // image without User, "/" without an entry.
  const home = input.env.HOME ?? (ids ?? (await resolveImageUser(input.root, '0')))?.home ?? '/';
  input = { ...input, env: { ...input.env, HOME: home } };
  const program = await resolveProgram(input);
  const notes: string[] = [];
  const bwrap = input.support.bwrap;
  if (bwrap === null) {
    notes.push('running without a sandbox: install bubblewrap');
    // No mount namespace: absolute image paths in the arguments must point into the root on the host.
    const args: string[] = [];
    for (const arg of input.argv.slice(1)) {
      args.push(arg.startsWith('/') && (await exists(join(input.root, arg))) ? join(input.root, arg) : arg);
    }
    const argv0 = 'host' in program ? program.host : join(input.root, program.image);
    return { argv: [argv0, ...args], cwd: join(input.root, input.workingDir), env: input.env, sandboxed: false, notes };
  }
  const args: string[] = ['--unshare-pid', '--unshare-ipc', '--unshare-uts'];
  if (input.support.userNamespace) {
    args.push('--unshare-user');
    if (ids !== null) args.push('--uid', String(ids.uid), '--gid', String(ids.gid));
  } else {
    notes.push('bubblewrap cannot create user namespaces here: the process keeps the server uid');
  }
  // The new root is bubblewrap's tmpfs: the image's top-level entries are bound into it, so mount points for
  // host directories never have to be created inside the (read-only, digest-checked) image root.
  // /tmp, /proc and /dev first, so a host path bound later (an interpreter in a checkout under /tmp)
  // lands on top of the tmpfs instead of being hidden by it; the image's own entries there are replaced.
  args.push('--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev');
  const top = new Set<string>();
  for (const name of (await readdir(input.root)).sort()) {
    if (name === 'tmp' || name === 'proc' || name === 'dev') continue;
    top.add(name);
    const path = join(input.root, name);
    const st = await lstat(path);
    if (st.isSymbolicLink()) args.push('--symlink', await readlink(path), `/${name}`);
    else args.push('--ro-bind', path, `/${name}`);
  }
  const bound: string[] = [];
  for (const host of HOST_PATHS) {
    if (top.has(host.split('/')[1]!) || !(await exists(host))) continue;
    const st = await lstat(host);
    if (st.isSymbolicLink()) args.push('--symlink', await readlink(host), host);
    else args.push('--ro-bind', host, host);
    bound.push(host);
  }
  let argv0: string;
  if ('host' in program) {
    argv0 = program.host;
    const dir = dirname(program.host);
    const covered = bound.some((b) => dir === b || dir.startsWith(`${b}/`));
    if (!covered) {
      if (top.has(dir.split('/')[1]!)) notes.push(`host binary directory ${dir} overlaps the image root`);
      args.push('--ro-bind', dir, dir);
    }
  } else {
    argv0 = program.image;
  }
  args.push('--remount-ro', '/');
  args.push('--new-session', '--clearenv');
  for (const [k, v] of Object.entries(input.env)) args.push('--setenv', k, v);
  args.push('--chdir', input.workingDir, '--', argv0, ...input.argv.slice(1));
  return { argv: [bwrap, ...args], cwd: '/', env: {}, sandboxed: true, notes };
}
