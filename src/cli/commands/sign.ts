import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { canonicalBytes, type Digest } from '../../core/index.ts';
import { createRegistryClient, type ImageReference, parseReference } from '../../oci/index.ts';
import type { RecordSignatures } from '../../trust/index.ts';
import type { APIClient } from '../api-client.ts';
import { resolveClient } from '../context.ts';
import { type DigestLookup, digestLookup, isDigestAddress } from '../digest-address.ts';
import { CLIError, emit, type GlobalOptions } from '../output.ts';
import { registryCredentials } from '../registry-credentials.ts';
import { trustRoom } from '../rooms.ts';

export interface SignFlags {
  key: string;
  bundleOut?: string;
  tlog: boolean;
}

/**
 * Resolves REF once to its digest and manifest; everything after uses the digest. REF is an image reference,
 * or, with `lookup` (the server's), a digest or an unambiguous prefix of one (style rule 2).
 */
export async function resolveImage(
  registry: ReturnType<typeof createRegistryClient>,
  text: string,
  lookup?: DigestLookup,
): Promise<{ ref: ImageReference; digest: Digest; manifest: { bytes: Uint8Array; mediaType: string } }> {
  const ref = lookup !== undefined && isDigestAddress(text) ? await lookup.find(text) : parseReference(text);
  const manifest = await registry.getManifest(ref, ref.digest ?? ref.tag ?? 'latest');
  if (manifest === null) {
    throw new CLIError(
      'FAILED',
      `Cannot resolve ${text}: the registry has no such manifest`,
      'check the repository and tag, e.g. with `fixity inspect`',
    );
  }
  return { ref, digest: manifest.digest, manifest: { bytes: manifest.bytes, mediaType: manifest.mediaType } };
}

/** The ledger port over the API client, or none with --no-tlog. */
export function ledgerRecorder(client: APIClient, enabled: boolean): RecordSignatures | undefined {
  if (!enabled) return undefined;
  return async (repository, entries) => client.recordSignatures(repository, entries);
}

async function signerFrom(file: string) {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch {
    throw new CLIError(
      'USAGE',
      `Cannot read the key ${file}: no such file`,
      'create one with `fixity key generate --out NAME`',
    );
  }
  const { loadSigner } = await trustRoom();
  return loadSigner(pem, process.env.FIXITY_KEY_PASSPHRASE);
}

export function addSignCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('sign')
    .description('sign an image in both cosign formats (.sig tag and Sigstore bundle referrer), logged in the ledger')
    .argument(
      '<ref>',
      'image reference (a tag is resolved once), or a digest, digest prefix or alias known to the server',
    )
    .requiredOption('--key <file>', 'private key (PEM) from `fixity key generate`')
    .option('--bundle-out <file>', 'also write the Sigstore bundle to this file')
    .option('--no-tlog', 'do not record in the Fixity ledger (the bundle then carries no inclusion proof)')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity sign localhost:7070/hello:1.0.0 --key ci.key\n  fixity sign ghcr.io/acme/app@sha256:… --key ci.key --bundle-out app.sigstore.json',
    )
    .action(async (text: string, opts: SignFlags) => {
      const g = globals();
      const { client, server, token } = resolveClient(g);
      const registry = createRegistryClient({ credentials: registryCredentials({ server, token }) });
      const image = await resolveImage(registry, text, digestLookup(client, server));
      const signer = await signerFrom(opts.key);
      const recorder = ledgerRecorder(client, opts.tlog);
      const { signImage } = await trustRoom();
      const result = await signImage({
        registry,
        ...image,
        signer,
        ...(recorder === undefined ? {} : { record: recorder }),
        created: new Date(),
      });
      if (opts.bundleOut !== undefined) await writeFile(opts.bundleOut, `${JSON.stringify(result.bundle, null, 2)}\n`);
      const { bundle: _, ...summary } = result;
      emit(
        g,
        'Signature',
        { ...summary, keyId: signer.keyId, ...(opts.bundleOut ? { bundleOut: opts.bundleOut } : {}) },
        () =>
          [
            `✔ signed ${image.ref.registry}/${image.ref.repository}@${result.digest} with key ${signer.keyId.slice(0, 16)}…`,
            `  cosign legacy  ${result.legacyTag}`,
            `  sigstore bundle referrer ${result.bundleReferrer}`,
            result.logIndices.length === 0
              ? '  not recorded in the ledger (--no-tlog)'
              : `  ledger entries ${result.logIndices.join(', ')}`,
            ...(opts.bundleOut ? [`  bundle written to ${opts.bundleOut}`] : []),
          ].join('\n'),
      );
    });

  program
    .command('attest')
    .description('sign an in-toto statement about an image (DSSE) and attach it as a Sigstore bundle referrer')
    .argument(
      '<ref>',
      'image reference (a tag is resolved once), or a digest, digest prefix or alias known to the server',
    )
    .requiredOption('--type <uri>', 'predicate type, e.g. https://slsa.dev/provenance/v1')
    .requiredOption('--predicate <file>', 'the predicate (JSON)')
    .requiredOption('--key <file>', 'private key (PEM)')
    .option('--bundle-out <file>', 'also write the Sigstore bundle to this file')
    .option('--no-tlog', 'do not record in the Fixity ledger')
    .addHelpText(
      'after',
      '\nExample:\n  fixity attest localhost:7070/hello:1.0.0 --type https://in-toto.io/attestation/test-result/v0.1 \\\n    --predicate results.json --key ci.key',
    )
    .action(async (text: string, opts: SignFlags & { type: string; predicate: string }) => {
      const g = globals();
      let predicate: unknown;
      try {
        predicate = JSON.parse(await readFile(opts.predicate, 'utf8'));
      } catch (err) {
        throw new CLIError('USAGE', `Cannot read the predicate ${opts.predicate}: ${(err as Error).message}`);
      }
      const { client, server, token } = resolveClient(g);
      const registry = createRegistryClient({ credentials: registryCredentials({ server, token }) });
      const image = await resolveImage(registry, text, digestLookup(client, server));
      const signer = await signerFrom(opts.key);
      const { attestImage, createStatement } = await trustRoom();
      const statement = createStatement(
        { name: `${image.ref.registry}/${image.ref.repository}`, digest: image.digest },
        opts.type,
        predicate,
      );
      const recorder = ledgerRecorder(client, opts.tlog);
      const result = await attestImage({
        registry,
        ref: image.ref,
        subject: { digest: image.digest, size: image.manifest.bytes.byteLength, mediaType: image.manifest.mediaType },
        statement: canonicalBytes(statement),
        signer,
        ...(recorder === undefined ? {} : { record: recorder }),
        created: new Date(),
      });
      if (opts.bundleOut !== undefined) await writeFile(opts.bundleOut, `${JSON.stringify(result.bundle, null, 2)}\n`);
      const value = {
        digest: image.digest,
        predicateType: opts.type,
        referrer: result.referrer,
        logIndex: result.logIndex,
        keyId: signer.keyId,
      };
      emit(g, 'Attestation', value, () =>
        [
          `✔ attested ${opts.type} for ${image.ref.registry}/${image.ref.repository}@${image.digest}`,
          `  bundle referrer ${result.referrer}`,
          result.logIndex === null ? '  not recorded in the ledger (--no-tlog)' : `  ledger entry ${result.logIndex}`,
        ].join('\n'),
      );
    });
}
