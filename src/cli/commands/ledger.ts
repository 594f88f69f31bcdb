import { createPublicKey } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { APIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { extendsCheckpoint, logIdOf, trustedLedgerKey, writePin } from '../ledger-pin.ts';
import { CLIError, EXIT, emit, type GlobalOptions, table, when } from '../output.ts';
import { createProgress } from '../progress.ts';
import { ledgerRoom } from '../rooms.ts';

const b64 = (s: string) => Buffer.from(s, 'base64');
const warn = (text: string) => process.stderr.write(`note: ${text}\n`);

export function addLedgerCommands(program: Command, globals: () => GlobalOptions): void {
  const ledger = program.command('ledger').description('verify, prove and export the tamper-evident ledger');

  ledger
    .command('verify')
    .description('recompute the whole ledger, check every checkpoint, and prove it only grew since last time')
    .option('--export <file>', 'verify an archive from `fixity ledger export` offline instead of the server')
    .option('--key <file>', 'the ledger public key (required with --export; pins it otherwise)')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity ledger verify\n  fixity ledger verify --export ledger.tar --key ledger.pub\n\nExit 7 when anything does not verify; the report names the first bad index.',
    )
    .action(async (opts: { export?: string; key?: string }) => {
      const g = globals();
      if (opts.export !== undefined) {
        if (opts.key === undefined)
          throw new CLIError('USAGE', 'Cannot verify an export offline without --key LEDGER.pub');
        const { verifyLedgerArchive } = await ledgerRoom();
        const report = await verifyLedgerArchive(opts.export, await readFile(opts.key, 'utf8'));
        return render(g, { source: opts.export, ...report, consistentWithPrevious: null });
      }
      const { client, server } = resolveClient(g);
      const info = await client.ledger();
      const trusted = await trustedLedgerKey(server, info, opts.key, warn);
      const dir = await mkdtemp(join(tmpdir(), 'fixity-ledger-'));
      try {
        const file = join(dir, 'ledger.tar');
        await download(client, file, g);
        const { verifyLedgerArchive } = await ledgerRoom();
        const report = await verifyLedgerArchive(file, trusted.publicKey);
        const consistent = await provePrevious(client, trusted, report);
        if (report.ok && consistent !== false) {
          await writePin({
            server,
            logId: trusted.logId,
            publicKey: trusted.publicKey,
            checkpoint: report.latest,
          });
        }
        render(g, { source: server, ...report, consistentWithPrevious: consistent });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

  ledger
    .command('proof')
    .description('print and check the inclusion proof of every ledger entry about a digest')
    .argument('<digest>', 'an image, blob or key digest, e.g. sha256:…')
    .option('--key <file>', 'the ledger public key (pins it otherwise)')
    .action(async (digest: string, opts: { key?: string }) => {
      const g = globals();
      const { client, server } = resolveClient(g);
      const info = await client.ledger();
      const trusted = await trustedLedgerKey(server, info, opts.key, warn);
      const key = createPublicKey(trusted.publicKey);
      const { items } = await client.ledgerEntriesFor(digest);
      const { leafHash, openCheckpoint, verifyInclusion } = await ledgerRoom();
      const checked = items.map((item) => {
        const p = item.inclusionProof;
        const cp = openCheckpoint(p.checkpoint, key, info.origin);
        const ok =
          cp.size === p.treeSize &&
          Buffer.from(cp.root).equals(b64(p.rootHash)) &&
          verifyInclusion(p.logIndex, p.treeSize, leafHash(b64(item.body)), p.hashes.map(b64), cp.root);
        return { ...item, verified: ok };
      });
      emit(g, 'LedgerProofList', { digest, items: checked }, () =>
        checked.length === 0
          ? `no ledger entries mention ${digest}`
          : table([
              ['INDEX', 'EVENT', 'ACTOR', 'TIME', 'TREE', 'PROOF'],
              ...checked.map((c) => [
                String(c.index),
                String(c.entry.event ?? ''),
                String(c.entry.actor ?? ''),
                when(typeof c.entry.time === 'string' ? c.entry.time : null),
                String(c.inclusionProof.treeSize),
                c.verified ? `✔ ${c.inclusionProof.hashes.length} hashes` : '✘ INVALID',
              ]),
            ]),
      );
      if (checked.some((c) => !c.verified)) process.exitCode = EXIT.verification;
    });

  ledger
    .command('export')
    .description('write the whole ledger to one file that `fixity ledger verify --export` checks offline')
    .requiredOption('--out <file>', 'where to write the archive (a tar)')
    .action(async (opts: { out: string }) => {
      const g = globals();
      const { client } = resolveClient(g);
      const info = await client.ledger();
      const bytes = await download(client, opts.out, g);
      emit(g, 'LedgerExport', { file: opts.out, bytes, size: info.size, logId: info.logId }, () =>
        [
          `✔ wrote ${opts.out}: ${info.size} entries, ${bytes} bytes`,
          `  verify offline with: fixity ledger verify --export ${opts.out} --key ledger.pub`,
          `  (the ledger key is in the archive's ledger.pub; compare its id ${logIdOf(info.publicKey).slice(0, 16)}… with a copy you trust)`,
        ].join('\n'),
      );
    });
}

async function download(client: APIClient, file: string, g: GlobalOptions): Promise<number> {
  const progress = createProgress({ json: g.json === true, mode: g.progress });
  const { body, length } = await client.ledgerExport();
  let seen = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.byteLength;
      progress.set('dl', `downloading ledger ${progress.bytes(seen)}${length ? ` of ${progress.bytes(length)}` : ''}`);
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), count, createWriteStream(file));
  progress.done();
  return seen;
}

// The last checkpoint this client verified must be a prefix of today's: a consistency proof shows it.
async function provePrevious(
  client: APIClient,
  trusted: Awaited<ReturnType<typeof trustedLedgerKey>>,
  report: { latest: { size: number; rootHash: string } | null },
): Promise<boolean | null> {
  const previous = trusted.pin?.checkpoint ?? null;
  if (previous === null || report.latest === null) return null;
  return extendsCheckpoint(client, previous, report.latest);
}

interface Rendered {
  source: string;
  ok: boolean;
  size: number;
  firstBadIndex?: number | undefined;
  checkpoints?: number;
  latest: { size: number; rootHash: string } | null;
  problems: Array<{ kind: string; index?: number; size?: number; message: string }>;
  consistentWithPrevious: boolean | null;
}

function render(g: GlobalOptions, r: Rendered): void {
  const ok = r.ok && r.consistentWithPrevious !== false;
  emit(g, 'LedgerVerification', { ...r, ok }, () =>
    [
      ok
        ? `✔ ledger verified: ${r.size} entries, ${r.checkpoints ?? 0} signed checkpoints, root ${r.latest?.rootHash ?? '-'}`
        : `✘ ledger does NOT verify${r.firstBadIndex === undefined ? '' : `: first bad index ${r.firstBadIndex}`}`,
      ...(r.consistentWithPrevious === null
        ? []
        : [
            r.consistentWithPrevious
              ? '✔ consistent with the checkpoint this client saw last (the log only grew)'
              : '✘ NOT consistent with the checkpoint this client saw last: history was rewritten',
          ]),
      ...r.problems
        .slice(0, 20)
        .map((p) => `  ✘ ${p.kind}${p.index === undefined ? '' : ` at index ${p.index}`}: ${p.message}`),
      ...(r.problems.length > 20 ? [`  … and ${r.problems.length - 20} more`] : []),
    ].join('\n'),
  );
  if (!ok) process.exitCode = EXIT.verification;
}
