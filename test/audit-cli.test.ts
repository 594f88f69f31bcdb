// `fixity audit report` against an in-process server on a real socket: it writes each format, re-verifies every
// row against the pinned ledger key, and exits 7 when the ledger under the report was rewritten.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { createAccess } from '../src/access/index.ts';
import { createManualClock } from '../src/core/index.ts';
import { renderAPIError } from '../src/server/api-error.ts';
import { auditRoutes } from '../src/server/audit-routes.ts';
import { createGatekeeper } from '../src/server/gatekeeper.ts';
import { ledgerRoutes } from '../src/server/ledger-routes.ts';
import { createTokenRecords } from '../src/store/index.ts';
import { at, D1, ORIGIN, STORY, type StoryLedger, storyLedger } from './audit-kit.ts';
import { dropLedgerGuards } from './ledger-kit.ts';
import { sqliteDatabase, type TestDatabase } from './support/databases.ts';
import { NODE, ROOT } from './support/server-process.ts';

// The CLI's entry point with only this command registered (the integrator adds it to src/cli/main.ts).
const RUNNER = `
import { Command, CommanderError } from 'commander';
import { addAuditCommands } from ${JSON.stringify(join(ROOT, 'src/cli/commands/audit.ts'))};
import { EXIT, reportError } from ${JSON.stringify(join(ROOT, 'src/cli/output.ts'))};
const program = new Command('fixity').option('--json').option('--server <url>').option('--token <token>')
  .option('--data <dir>').exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
addAuditCommands(program, () => program.opts());
try {
  await program.parseAsync(process.argv.slice(1), { from: 'user' });
} catch (err) {
  process.exitCode = err instanceof CommanderError ? EXIT.usage : reportError(err, process.argv.includes('--json'));
}
`;

describe('fixity audit report', () => {
  let engine: TestDatabase;
  let l: StoryLedger;
  let app: FastifyInstance;
  let dir: string;
  let server: string;
  let token: string;

  /** Runs the command in a child process (as `fixity audit report …`); returns its exit code and output. */
  async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = ['--server', server, '--token', token, '--data', dir, 'audit', 'report', ...args];
    return new Promise((resolve) => {
      execFile(
        NODE,
        ['--input-type=module', '-e', RUNNER, '--', ...argv],
        { env: { ...process.env, FIXITY_CONFIG_DIR: join(dir, 'config'), NO_COLOR: '1' } },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr }),
      );
    });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fixity-audit-cli-'));
    engine = await sqliteDatabase();
    l = await storyLedger(engine);
    const clock = createManualClock(at(10));
    const access = createAccess({ records: createTokenRecords(l.store), clock, signingKey: Buffer.alloc(32, 7) });
    token = (await access.createToken({ name: 'auditor', scopes: ['pull'], repos: ['**'] }, 'test')).secret;
    const gate = createGatekeeper(access);
    app = Fastify();
    await app.register(
      async (api) => {
        api.setErrorHandler(renderAPIError);
        await ledgerRoutes(api, {
          ledger: l.ledger,
          gate,
          publicKeyPem: l.publicKeyPem,
          logId: l.signer.keyId,
          origin: ORIGIN,
        });
        await auditRoutes(api, { ledger: l.ledger, gate, clock });
      },
      { prefix: '/api/v1' },
    );
    server = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
    await l?.close();
    await engine?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  test('fixity audit report prints Markdown by default, every row verified here', async () => {
    const { code, stdout, stderr } = await run('--stage', 'staging');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^# Fixity audit report/);
    assert.match(stdout, /signature verified with the trusted ledger key/);
    assert.match(stdout, /\*\*✔ All 6 rows verified/);
    assert.match(stderr, /pinned ledger key/);
  });

  test('fixity audit report --format html --out FILE writes the page and says what it proved', async () => {
    const file = join(dir, 'audit.html');
    const { code, stdout } = await run(
      '--since',
      '2025-03-06',
      '--until',
      '2025-03-06T23:59:59Z',
      '--format',
      'html',
      '--out',
      file,
    );
    assert.equal(code, 0);
    assert.match(stdout, /^✔ wrote .*audit\.html: 6 rows, 1 digests, every proof verified against checkpoint 616/);
    const page = await readFile(file, 'utf8');
    assert.match(page, /^<!doctype html>/);
    assert.ok(page.includes(D1));
  });

  test('fixity audit report --json prints the re-verified report as one JSON document', async () => {
    const { code, stdout } = await run('--json', '--stage', 'production');
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.equal(report.kind, 'AuditReport');
    assert.equal(report.ok, true);
    assert.equal(report.checkpoint.signatureChecked, true);
  });

  test('fixity audit report refuses bad flags with exit 2 and a fix', async () => {
    const since = await run('--since', 'yesterday');
    assert.equal(since.code, 2);
    assert.match(since.stderr, /Cannot use --since "yesterday"\n.*fix:.*7d/s);
    assert.equal((await run('--json', '--format', 'html')).code, 2);
    assert.equal((await run('--format', 'pdf')).code, 2);
  });

  test('fixity audit report exits 7 and names the row when the ledger was rewritten', async () => {
    await dropLedgerGuards(l.store);
    const index = STORY.approveD1Staging;
    const body = Buffer.from((await l.ledger.entry(index))!.body.toString('utf8').replace('"alice"', '"mallory"'));
    await sql`update ledger_leaves set body = ${body} where idx = ${index}`.execute(l.store.db);
    const { code, stdout, stderr } = await run('--stage', 'staging', '--format', 'md');
    assert.equal(code, 7);
    assert.match(stdout, /✘ NOT VERIFIED: 1 of 6 rows fail \(#309\)/);
    assert.match(stderr, new RegExp(`row #${index} \\(approval\\)`));
  });
});
