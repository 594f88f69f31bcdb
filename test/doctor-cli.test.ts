// `fixity doctor` against a running `fixity serve`: every check is listed with a status; an accepted token
// exits 0, a refused one fails the run (exit 1) with the fix to log in, a server that is not running is only a
// warning, and a credentials file others can read is flagged.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess, tempDir } from './support/server-process.ts';

interface Doctor {
  kind: string;
  ok: boolean;
  checks: Array<{ name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string }>;
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`fixity doctor (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    const env = () => ({
      FIXITY_CONFIG_DIR: join(dir, 'config'),
      FIXITY_DATA: join(dir, 'data'),
      XDG_CACHE_HOME: join(dir, 'cache'),
    });
    const doctor = (args: string[]) => server.cli(['doctor', ...args], { bare: true, env: env() });
    const byName = (d: Doctor) => Object.fromEntries(d.checks.map((c) => [c.name, c]));

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-doctor-');
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('with a token the server accepts, every check is there and the run passes', async () => {
      const out = await doctor(['--server', server.url, '--token', server.token, '--json']);
      const report = json<Doctor>(out, 'doctor');
      assert.equal(report.kind, 'Doctor');
      assert.equal(report.ok, true);
      const checks = byName(report);
      assert.deepEqual(Object.keys(checks), [
        'node',
        'git',
        'sandbox',
        'server',
        'clock',
        'token',
        'versions',
        'ledger',
        'data',
        'build cache',
        'file watcher',
      ]);
      assert.match(checks['file watcher']?.detail ?? '', /^off here/, 'tests run builds without the watcher');
      assert.equal(checks.clock?.status, 'ok', 'the server runs on this machine: one clock');
      assert.match(checks.versions?.detail ?? '', new RegExp(`on ${database.name}$`));
      assert.equal(checks.node?.status, 'ok');
      assert.equal(checks.server?.status, 'ok');
      assert.match(checks.token?.detail ?? '', /accepted: admin \(admin\)/);
      assert.match(checks.data?.detail ?? '', /not made yet/);
      assert.ok(['ok', 'warn'].includes(checks.sandbox?.status ?? ''), 'a sandbox check, whatever this host has');
      assert.ok(!out.stdout.includes(server.token), 'the token is never printed');
    });

    test('the ledger check: unpinned it warns; after ledger verify it is consistent; a rewritten history fails', async () => {
      // Parsed whatever the exit code: a failed check makes it 1.
      const run = async () =>
        byName(JSON.parse((await doctor(['--server', server.url, '--token', server.token, '--json'])).stdout) as Doctor)
          .ledger;
      const unpinned = await run();
      assert.equal(unpinned?.status, 'warn');
      assert.match(unpinned?.detail ?? '', /^checkpoint of \d+ entries signed by [0-9a-f]{16}…; nothing pinned/);
      const verified = await server.cli(['ledger', 'verify', '--json'], { env: env() });
      assert.equal(verified.code, 0, verified.stderr);
      const pinned = await run();
      assert.equal(pinned?.status, 'ok', pinned?.detail);
      assert.match(pinned?.detail ?? '', /consistent with the \d+ this client verified$/);
      // The pin now says the log had another root at that size: the server's history no longer extends it.
      const ledgers = join(dir, 'config', 'ledgers');
      const [file] = await readdir(ledgers);
      const pin = JSON.parse(await readFile(join(ledgers, file!), 'utf8')) as { checkpoint: { rootHash: string } };
      pin.checkpoint.rootHash = Buffer.alloc(32, 7).toString('base64');
      await writeFile(join(ledgers, file!), JSON.stringify(pin));
      const forked = await run();
      assert.equal(forked?.status, 'fail');
      assert.match(forked?.detail ?? '', /NOT consistent with the checkpoint of \d+ this client verified/);
      await rm(ledgers, { recursive: true });
    });

    test('a refused token fails the run with the fix to log in; the human output says so too', async () => {
      const out = await doctor(['--server', server.url, '--token', 'not-a-token', '--json']);
      assert.equal(out.code, 1, out.stderr);
      const token = byName(JSON.parse(out.stdout) as Doctor).token;
      assert.equal(token?.status, 'fail');
      assert.match(token?.fix ?? '', /fixity login/);
      const human = await doctor(['--server', server.url, '--token', 'not-a-token']);
      assert.equal(human.code, 1);
      assert.match(human.stdout, /^✖ token +refused/m);
      assert.match(human.stdout, /checks: \d+ ok, \d+ warning\(s\), 1 failed$/m);
      // The same in ASCII (style rule 7): asked for, or because the locale is not UTF-8; JSON is left alone.
      for (const [args, extra] of [
        [['--ascii'], {}],
        [[], { LANG: 'C', LC_ALL: '', LC_CTYPE: '' }],
      ] as const) {
        const plain = await server.cli(['doctor', '--server', server.url, '--token', 'not-a-token', ...args], {
          bare: true,
          env: { ...env(), ...extra },
        });
        assert.match(plain.stdout, /^\[x\] token +refused/m, JSON.stringify(args));
        assert.match(plain.stdout, /^\[ok\] node /m);
        assert.ok(
          [...plain.stdout].every((c) => c.charCodeAt(0) < 128),
          'nothing but ASCII',
        );
      }
    });

    test('tls: an untrusted certificate fails, a trusted one says until when, one expiring soon warns', async () => {
      const certs = await tempDir('fixity-doctor-tls-');
      const serve = async (days: number) => {
        const key = join(certs, `${days}.key`);
        const cert = join(certs, `${days}.pem`);
        execFileSync('openssl', [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
          ...['-keyout', key, '-out', cert, '-days', String(days), '-subj', '/CN=127.0.0.1'],
          ...['-addext', 'subjectAltName=IP:127.0.0.1'],
        ]);
        const https = createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) =>
          res.end('ok'),
        );
        await new Promise<void>((done) => https.listen(0, '127.0.0.1', done));
        return { cert, https, url: `https://127.0.0.1:${(https.address() as AddressInfo).port}` };
      };
      // The tls check of a doctor run against `url`, trusting `ca` (a PEM file) when given.
      const tlsOf = async (url: string, ca?: string) => {
        const extra = ca === undefined ? {} : { NODE_EXTRA_CA_CERTS: ca };
        const out = await server.cli(['doctor', '--server', url, '--json'], {
          bare: true,
          env: { ...env(), ...extra },
        });
        return byName(JSON.parse(out.stdout) as Doctor).tls;
      };
      const year = await serve(365);
      const soon = await serve(5);
      try {
        const untrusted = await tlsOf(year.url);
        assert.equal(untrusted?.status, 'fail');
        assert.match(untrusted?.detail ?? '', /is not trusted here/);
        const trusted = await tlsOf(year.url, year.cert);
        assert.equal(trusted?.status, 'ok', trusted?.detail);
        assert.match(trusted?.detail ?? '', /certificate trusted, valid until \d{4}-\d\d-\d\d$/);
        const expiring = await tlsOf(soon.url, soon.cert);
        assert.equal(expiring?.status, 'warn');
        assert.match(expiring?.detail ?? '', /expires \d{4}-\d\d-\d\d/);
        assert.equal(await tlsOf(server.url), undefined, 'plain HTTP on this machine needs no TLS check');
      } finally {
        year.https.close();
        soon.https.close();
      }
    });

    test('a server that is not running is a warning, not a failure', async () => {
      const out = await doctor(['--server', 'http://127.0.0.1:1', '--json']);
      assert.equal(out.code, 0, out.stderr);
      const report = JSON.parse(out.stdout) as Doctor;
      assert.equal(byName(report).server?.status, 'warn');
      assert.equal(byName(report).token, undefined, 'no token check without a server');
    });

    test('a credentials file others can read is flagged', async () => {
      await mkdir(join(dir, 'config'), { recursive: true });
      const file = join(dir, 'config', 'hosts.json');
      await writeFile(file, JSON.stringify({ current: null, hosts: {} }));
      await chmod(file, 0o644);
      const report = JSON.parse((await doctor(['--server', 'http://127.0.0.1:1', '--json'])).stdout) as Doctor;
      const credentials = byName(report).credentials;
      assert.equal(credentials?.status, 'warn');
      assert.equal(credentials?.fix, `chmod 600 ${file}`);
    });
  });
}
