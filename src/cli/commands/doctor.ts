/**
 * `fixity doctor`: what this machine and this CLI's settings give Fixity, each check with what to do about it,
 * as `gh`'s and `flyctl`'s doctors do. A failure (a server that refuses the token) exits 1; a warning (no
 * sandbox, no git, a server not running) does not, since Fixity still works without it.
 */
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { access, constants, readFile, statfs } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { scanCache, sum, tallyCache } from '../../build/cache-usage.ts';
import { ask, watchDir, watchSocket } from '../../build/fs-watch.ts';
import { DEFAULT_DATA_DIR, VERSION } from '../../defaults.ts';
import { detectSandbox } from '../../runtime/sandbox.ts';
import type { APIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { hostsFile } from '../credentials.ts';
import { extendsCheckpoint, readPin } from '../ledger-pin.ts';
import { EXIT, emit, formatBytes, type GlobalOptions } from '../output.ts';
import { ledgerRoom } from '../rooms.ts';
import { watchWanted } from './build.ts';
import { buildCacheDir } from './cache.ts';

export interface DoctorCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const LOW_DISK = 1 << 30;
const CLOCK_SKEW_S = 5;
const MARK = { ok: '✔', warn: '⚠', fail: '✖' } as const;

const check = (name: string, status: DoctorCheck['status'], detail: string, fix?: string): DoctorCheck =>
  fix === undefined ? { name, status, detail } : { name, status, detail, fix };

function output(file: string, args: string[]): Promise<string | null> {
  return new Promise((done) => {
    execFile(file, args, { timeout: 5_000 }, (err, stdout) => done(err === null ? stdout.trim() : null));
  });
}

async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

/** The nearest directory of `path` that exists (where a directory not made yet would go). */
function existing(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) p = resolve(p, '..');
  return p;
}

async function sandboxCheck(): Promise<DoctorCheck> {
  const support = await detectSandbox('auto');
  if (support.bwrap === null) {
    return check(
      'sandbox',
      'warn',
      'no usable bubblewrap: instances run as plain processes, not sandboxed',
      'apt-get install -y bubblewrap (and allow unprivileged user namespaces)',
    );
  }
  return support.userNamespace
    ? check('sandbox', 'ok', `bubblewrap at ${support.bwrap}, with user namespaces`)
    : check(
        'sandbox',
        'warn',
        `bubblewrap at ${support.bwrap}, but no user namespaces: instances cannot run as an unprivileged user`,
        'sysctl -w kernel.unprivileged_userns_clone=1 (or run the server as root)',
      );
}

/** The server's clock against this one, from the Date header of a response received at `at` (1 s steps). */
function clockCheck(date: string | null, sentAt: number, receivedAt: number): DoctorCheck {
  const serverMs = date === null ? Number.NaN : Date.parse(date);
  if (Number.isNaN(serverMs)) return check('clock', 'warn', 'the server sent no Date header to compare with');
  // The header is truncated to the second: the server's time was somewhere in [serverMs, serverMs + 1000).
  const skew = Math.round((serverMs + 500 - (sentAt + receivedAt) / 2) / 1000);
  return Math.abs(skew) <= CLOCK_SKEW_S
    ? check('clock', 'ok', `within ${CLOCK_SKEW_S} s of the server's`)
    : check(
        'clock',
        'warn',
        `${Math.abs(skew)} s ${skew > 0 ? 'behind' : 'ahead of'} the server's: times shown here, windows and expiry read differently`,
        'sync both clocks (timedatectl set-ntp true)',
      );
}

/** Same major and minor: what this CLI speaks is what the server answers. */
function versionCheck(serverVersion: string, database: string): DoctorCheck {
  const [a, b] = [VERSION, serverVersion].map((v) => v.split('.').slice(0, 2).join('.'));
  return a === b
    ? check('versions', 'ok', `fixity ${VERSION}, server ${serverVersion} on ${database}`)
    : check(
        'versions',
        'warn',
        `fixity ${VERSION}, server ${serverVersion}: commands may ask for what the server does not know`,
        'use the same release on both sides',
      );
}

// A certificate that expires within two weeks is worth a warning.
const CERT_SOON_MS = 14 * 24 * 60 * 60 * 1000;

/**
 * The server's TLS: for https, whether its certificate chain is trusted here and how long it stays valid;
 * plain http is fine on this machine and a warning anywhere else (tokens would travel in the clear).
 */
async function tlsCheck(server: string): Promise<DoctorCheck | null> {
  const url = new URL(server);
  if (url.protocol === 'http:') {
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    return local
      ? null
      : check('tls', 'warn', `${url.host} is plain HTTP: tokens cross the network in the clear`, 'serve it behind TLS');
  }
  const { connect } = await import('node:tls');
  const port = Number(url.port || 443);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port, servername: isIP(host) === 0 ? host : undefined, rejectUnauthorized: false });
    const done = (result: DoctorCheck) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(5_000, () => done(check('tls', 'warn', `${url.host} did not finish a TLS handshake in 5 s`)));
    socket.once('error', (err) => done(check('tls', 'fail', `TLS to ${url.host} failed: ${err.message}`)));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const until = Date.parse(cert.valid_to);
      const date = Number.isNaN(until) ? cert.valid_to : new Date(until).toISOString().slice(0, 10);
      if (!socket.authorized) {
        done(
          check(
            'tls',
            'fail',
            `the certificate of ${url.host} is not trusted here: ${String(socket.authorizationError)}`,
            'install its CA (e.g. NODE_EXTRA_CA_CERTS=ca.pem), or fix the server certificate',
          ),
        );
      } else if (until - Date.now() < CERT_SOON_MS) {
        done(check('tls', 'warn', `the certificate of ${url.host} expires ${date}`, 'renew it'));
      } else done(check('tls', 'ok', `${url.host}: certificate trusted, valid until ${date}`));
    });
  });
}

// A token that expires within a day is worth a warning.
const TOKEN_SOON_MS = 24 * 60 * 60 * 1000;

/**
 * The ledger's latest checkpoint: signed by the key this client pinned (or the server's, when none is
 * pinned yet), and consistent with the checkpoint this client verified last (the log only grew).
 */
async function ledgerCheck(client: APIClient, server: string): Promise<DoctorCheck> {
  const fix = 'do not trust this ledger: run fixity ledger verify, and report it to whoever runs the server';
  try {
    const info = await client.ledger();
    const pin = await readPin(server);
    if (pin !== null && pin.logId !== info.logId) {
      return check(
        'ledger',
        'fail',
        `the ledger key changed from ${pin.logId.slice(0, 16)}… (pinned) to ${info.logId.slice(0, 16)}…`,
        'if the change is legitimate: fixity ledger verify --key NEW.pub',
      );
    }
    const { openCheckpoint } = await ledgerRoom();
    const latest = openCheckpoint(info.checkpoint, createPublicKey(pin?.publicKey ?? info.publicKey), info.origin);
    const signed = `checkpoint of ${latest.size} entries signed by ${info.logId.slice(0, 16)}…`;
    const seen = pin?.checkpoint ?? null;
    if (seen === null) {
      return check('ledger', 'warn', `${signed}; nothing pinned to compare with`, 'fixity ledger verify (pins it)');
    }
    const consistent = await extendsCheckpoint(client, seen, {
      size: latest.size,
      rootHash: latest.root.toString('base64'),
    });
    return consistent
      ? check('ledger', 'ok', `${signed}, consistent with the ${seen.size} this client verified`)
      : check('ledger', 'fail', `NOT consistent with the checkpoint of ${seen.size} this client verified`, fix);
  } catch (err) {
    return check('ledger', 'fail', `the latest checkpoint does not verify: ${(err as Error).message}`, fix);
  }
}

async function serverChecks(g: GlobalOptions): Promise<DoctorCheck[]> {
  const { client, server, token } = resolveClient(g);
  let clock: DoctorCheck;
  try {
    const sentAt = Date.now();
    const res = await fetch(new URL('/healthz', server), { signal: AbortSignal.timeout(5_000) });
    clock = clockCheck(res.headers.get('date'), sentAt, Date.now());
    if (!res.ok) return [check('server', 'fail', `${server} answers /healthz with HTTP ${res.status}`, 'see its log')];
  } catch {
    return [
      check(
        'server',
        'warn',
        `nothing answers at ${server}`,
        'start one with `npx fixity up` (or fixity serve), or point at yours: fixity login URL',
      ),
    ];
  }
  const reachable = check('server', 'ok', `${server} is up`);
  if (token === null)
    return [reachable, clock, check('token', 'warn', 'no token: only anonymous access', `fixity login ${server}`)];
  try {
    const me = await client.whoami();
    const who = `${me.principal.name}${me.admin ? ' (admin)' : ''}`;
    const status = await client.status();
    const roles = me.roles.map((r) => r.role).join(', ') || '-';
    const expiresAt = me.token?.expiresAt ?? null;
    const left = expiresAt === null ? Number.POSITIVE_INFINITY : Date.parse(expiresAt) - Date.now();
    return [
      reachable,
      clock,
      left < TOKEN_SOON_MS
        ? check('token', 'warn', `accepted: ${who}, roles ${roles}; expires ${expiresAt}`, `fixity login ${server}`)
        : check('token', 'ok', `accepted: ${who}, roles ${roles}`),
      versionCheck(status.version, status.database),
      await ledgerCheck(client, server),
    ];
  } catch (err) {
    return [
      reachable,
      clock,
      check('token', 'fail', `refused: ${(err as Error).message}`, `fixity login ${server} (with a token that works)`),
    ];
  }
}

async function dataDirCheck(g: GlobalOptions): Promise<DoctorCheck> {
  const dir = resolve(g.data ?? process.env.FIXITY_DATA ?? DEFAULT_DATA_DIR);
  const free = await freeBytes(existing(dir));
  if (!existsSync(dir))
    return check('data', 'ok', `${dir}: not made yet (fixity up makes it); ${formatBytes(free)} free`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    return check('data', 'fail', `${dir} is not writable by this user`, `chown it, or pass --data DIR`);
  }
  return free < LOW_DISK
    ? check('data', 'warn', `${dir}: only ${formatBytes(free)} free`, 'free some space: blobs and logs live here')
    : check('data', 'ok', `${dir}: ${formatBytes(free)} free`);
}

async function cacheCheck(): Promise<DoctorCheck> {
  const dir = buildCacheDir();
  const { entries, leftovers } = await scanCache(dir);
  const used = sum(tallyCache(entries, leftovers));
  const free = await freeBytes(existing(dir));
  const detail = `${dir}: ${formatBytes(used)} used, ${formatBytes(free)} free`;
  return free < LOW_DISK
    ? check('build cache', 'warn', detail, 'fixity cache prune')
    : check('build cache', 'ok', detail);
}

// Below this many inotify watches per user, the file watcher may not cover a large tree (one per directory).
const FEW_WATCHES = 65_536;

async function watcherCheck(): Promise<DoctorCheck> {
  if (!watchWanted({}, process.env)) {
    return check('file watcher', 'ok', 'off here (CI or FIXITY_BUILD_WATCH=0): builds read their sources every time');
  }
  const dir = watchDir(process.env);
  const limit = Number(await readFile('/proc/sys/fs/inotify/max_user_watches', 'utf8').catch(() => 'NaN'));
  if (limit < FEW_WATCHES) {
    return check(
      'file watcher',
      'warn',
      `inotify allows ${limit} watches per user: trees with more directories are read every build`,
      'sysctl fs.inotify.max_user_watches=524288',
    );
  }
  const status = await ask(watchSocket(dir), { op: 'status' }, 300);
  if (!('answer' in status) || status.answer.ok !== true)
    return check('file watcher', 'ok', `not running (${dir}): the next build starts it`);
  const { pid, roots, watches } = status.answer as { pid: number; roots: number; watches: number };
  return check('file watcher', 'ok', `running (pid ${pid}): ${roots} source root(s), ${watches} directories watched`);
}

function credentialsCheck(): DoctorCheck | null {
  const file = hostsFile();
  if (!existsSync(file)) return null;
  const mode = statSync(file).mode & 0o777;
  return (mode & 0o077) === 0
    ? check('credentials', 'ok', `${file} (mode ${mode.toString(8)})`)
    : check('credentials', 'warn', `${file} is readable by others (mode ${mode.toString(8)})`, `chmod 600 ${file}`);
}

/** Runs every check; none throws (a check that cannot tell says so). */
export async function runDoctor(g: GlobalOptions): Promise<DoctorCheck[]> {
  const major = Number(process.versions.node.split('.')[0]);
  const git = await output('git', ['--version']);
  const checks: Array<DoctorCheck | null> = [
    major >= 24
      ? check('node', 'ok', `v${process.versions.node}`)
      : check('node', 'fail', `v${process.versions.node}: Fixity needs Node 24`, 'run it through npx fixity'),
    git === null
      ? check('git', 'warn', 'not found: builds cannot record their source revision', 'apt-get install -y git')
      : check('git', 'ok', git),
    await sandboxCheck(),
    ...(await serverChecks(g)),
    await tlsCheck(resolveClient(g).server),
    await dataDirCheck(g),
    await cacheCheck(),
    await watcherCheck(),
    credentialsCheck(),
  ];
  return checks.filter((c) => c !== null);
}

export function addDoctorCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('doctor')
    .description(
      'check this machine and these settings: Node, sandbox, git, server, token, ledger, disk, cache, watcher',
    )
    .addHelpText('after', '\nExit 1 when a check fails; warnings say what works less well, and how to fix it.')
    .action(async () => {
      const g = globals();
      const checks = await runDoctor(g);
      const failed = checks.filter((c) => c.status === 'fail').length;
      const warned = checks.filter((c) => c.status === 'warn').length;
      const width = Math.max(...checks.map((c) => c.name.length));
      emit(g, 'Doctor', { ok: failed === 0, checks }, () =>
        [
          ...checks.flatMap((c) => [
            `${MARK[c.status]} ${c.name.padEnd(width)}  ${c.detail}`,
            ...(c.fix === undefined ? [] : [`  ${' '.repeat(width)}  fix: ${c.fix}`]),
          ]),
          `${checks.length} checks: ${checks.length - failed - warned} ok, ${warned} warning(s), ${failed} failed`,
        ].join('\n'),
      );
      if (failed > 0) process.exitCode = EXIT.failed;
    });
}
