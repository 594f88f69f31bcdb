import { createPublicKey, type KeyObject, verify as verifySig } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { createRegistryClient } from '../../oci/index.ts';
import type { DecodedTlogEntry, ImageVerification, TlogCheck, TrustedKey } from '../../trust/index.ts';
import { resolveClient } from '../context.ts';
import { digestLookup } from '../digest-address.ts';
import { trustedLedgerKey } from '../ledger-pin.ts';
import { CLIError, EXIT, emit, type GlobalOptions } from '../output.ts';
import { registryCredentials } from '../registry-credentials.ts';
import { ledgerRoom, trustRoom } from '../rooms.ts';
import { resolveImage } from './sign.ts';

interface VerifyFlags {
  key?: string[];
  role?: string;
  type?: string[];
  ledgerKey?: string;
  tlog: boolean;
}

/**
 * The ledger check for one tlog entry: the entry is in the tree the checkpoint commits to, the checkpoint
 * and the signed entry timestamp are signed by the pinned ledger key; the SET's time is when it was logged.
 */
export async function ledgerCheck(ledgerKey: KeyObject): Promise<TlogCheck> {
  const { leafHash, openCheckpoint, parseNote, verifyInclusion } = await ledgerRoom();
  const { keyIdOf, setPayload } = await trustRoom();
  const logId = keyIdOf(ledgerKey);
  return (entry: DecodedTlogEntry) => {
    const fail = (detail: string) => ({ ok: false, detail, integratedTime: null });
    if (entry.logId !== logId)
      return fail(`logged by ${entry.logId.slice(0, 16)}…, not this ledger (${logId.slice(0, 16)}…)`);
    const proof = entry.inclusionProof;
    if (proof === undefined) return fail('no inclusion proof');
    let root: Buffer;
    try {
      const origin = parseNote(proof.checkpoint).text.split('\n')[0] ?? '';
      const cp = openCheckpoint(proof.checkpoint, ledgerKey, origin);
      if (cp.size !== proof.treeSize || !cp.root.equals(proof.rootHash))
        return fail('the checkpoint does not match the proof');
      root = cp.root;
    } catch (err) {
      return fail(`checkpoint: ${(err as Error).message}`);
    }
    if (!verifyInclusion(proof.logIndex, proof.treeSize, leafHash(entry.canonicalizedBody), proof.hashes, root))
      return fail(`the inclusion proof of entry ${entry.logIndex} does not verify`);
    if (entry.signedEntryTimestamp !== undefined) {
      const payload = setPayload({
        body: entry.canonicalizedBody,
        integratedTime: entry.integratedTime,
        logIndex: entry.logIndex,
        logId,
      });
      if (!verifySig('sha256', payload, ledgerKey, entry.signedEntryTimestamp))
        return fail('the signed entry timestamp does not verify');
    }
    return {
      ok: true,
      detail: `entry ${entry.logIndex} of ${proof.treeSize}, proof and checkpoint verified`,
      integratedTime: loggedAt(entry),
    };
  };
}

// The leaf's own time (milliseconds, covered by the proof) orders a signature against a revocation made in
// the same second; the SET's integratedTime (seconds) is the fallback.
function loggedAt(entry: DecodedTlogEntry): Date {
  try {
    const time = (JSON.parse(entry.canonicalizedBody.toString('utf8')) as { time?: unknown }).time;
    if (typeof time === 'string' && !Number.isNaN(Date.parse(time))) return new Date(time);
  } catch {}
  return new Date(entry.integratedTime * 1000);
}

export function addVerifyCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('verify')
    .description('check every signature and attestation of an image: signature, subject, key validity, ledger')
    .argument(
      '<ref>',
      'image reference (a tag is resolved once), or a digest, digest prefix or alias known to the server',
    )
    .option('--key <file...>', 'trust these public keys (PEM)')
    .option('--role <role>', 'trust the keys the server registered for this role (signer, builder, …)')
    .option('--type <uri...>', 'require a valid attestation of each predicate type (instead of a signature)')
    .option('--ledger-key <file>', 'the ledger public key (default: pinned from the server on first use)')
    .option('--no-tlog', 'do not require or check ledger inclusion (not recommended)')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity verify localhost:7070/hello:1.0.0 --role signer\n  fixity verify localhost:7070/hello@sha256:… --key ci.pub --type https://slsa.dev/provenance/v1\n\nExit 7 when a required signature or attestation is missing or invalid.',
    )
    .action(async (text: string, opts: VerifyFlags) => {
      const g = globals();
      if ((opts.key === undefined) === (opts.role === undefined))
        throw new CLIError('USAGE', 'Cannot verify: give exactly one of --key FILE or --role ROLE');
      const { client, server, token } = resolveClient(g);
      const registry = createRegistryClient({ credentials: registryCredentials({ server, token }) });
      const image = await resolveImage(registry, text, digestLookup(client, server));
      const { keyIdOf, loadPublicKey, verifyImage } = await trustRoom();
      const keys: TrustedKey[] =
        opts.key !== undefined
          ? await Promise.all(
              opts.key.map(async (file) => {
                const publicKey = loadPublicKey(await readFile(file, 'utf8'));
                return { keyId: keyIdOf(publicKey), publicKey, validFrom: null, validUntil: null, revokedAt: null };
              }),
            )
          : (await client.listKeys(opts.role)).map((k) => ({
              keyId: k.keyId,
              publicKey: loadPublicKey(k.publicKeyPem),
              validFrom: new Date(k.validFrom),
              validUntil: k.validUntil === null ? null : new Date(k.validUntil),
              revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt),
            }));
      let tlog: TlogCheck | null = null;
      if (opts.tlog) {
        const pem =
          opts.ledgerKey !== undefined
            ? await readFile(opts.ledgerKey, 'utf8')
            : (
                await trustedLedgerKey(server, await client.ledger(), undefined, (t) =>
                  process.stderr.write(`note: ${t}\n`),
                )
              ).publicKey;
        tlog = await ledgerCheck(createPublicKey(pem));
      }
      const report = await verifyImage({
        registry,
        ref: image.ref,
        digest: image.digest,
        manifest: image.manifest.bytes,
        keys,
        types: opts.type ?? [],
        tlog,
        now: new Date(),
      });
      emit(g, 'Verification', report, () => render(`${image.ref.registry}/${image.ref.repository}`, report));
      if (!report.ok) process.exitCode = EXIT.verification;
    });
}

function render(name: string, r: ImageVerification): string {
  const lines = [`${r.ok ? '✔ verified' : '✘ NOT verified'} ${name}@${r.digest}`];
  for (const item of [...r.signatures, ...r.attestations]) {
    const what = item.kind === 'attestation' ? `attestation ${item.predicateType}` : `signature (${item.source})`;
    const who = item.keyId === '' ? 'unknown key' : `key ${item.keyId.slice(0, 16)}…`;
    lines.push(
      `${item.ok ? '  ✔' : item.trusted ? '  ✘' : '  ·'} ${what} by ${who}${item.trusted ? '' : ' (not trusted: ignored)'}`,
    );
    for (const s of item.steps) lines.push(`      ${s.ok ? '✔' : '✘'} ${s.name}: ${s.detail}`);
  }
  for (const m of r.missing) lines.push(`  ✘ missing: ${m}`);
  return lines.join('\n');
}
