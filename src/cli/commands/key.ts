import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
// The list alone, for the help text: the room's face would load all of trust at start-up.
import { KEY_ROLES } from '../../trust/trust-store.ts';
import { resolveClient } from '../context.ts';
import { CLIError, emit, type GlobalOptions, table } from '../output.ts';
import { trustRoom } from '../rooms.ts';

export function addKeyCommands(program: Command, globals: () => GlobalOptions): void {
  const key = program.command('key').description('generate signing keys and manage the server trust store');

  key
    .command('generate')
    .description('write NAME.key (private, mode 0600) and NAME.pub; the key id is the SHA-256 of the SPKI')
    .requiredOption('--out <name>', 'path prefix of the two files')
    .option('--type <type>', 'p256 (ECDSA P-256/SHA-256, the default) or ed25519', 'p256')
    .addHelpText('after', '\nExamples:\n  fixity key generate --out ci\n  fixity key register ci.pub --role signer')
    .action(async (opts: { out: string; type: string }) => {
      const g = globals();
      if (opts.type !== 'p256' && opts.type !== 'ed25519')
        throw new CLIError('USAGE', `Cannot generate a "${opts.type}" key`, 'use --type p256 or --type ed25519');
      const { generateKeyPair, writeKeyFiles } = await trustRoom();
      const pair = generateKeyPair(opts.type);
      const files = await writeKeyFiles(opts.out, pair);
      emit(g, 'KeyPair', { keyId: pair.keyId, type: opts.type, ...files }, () =>
        [
          `✔ wrote ${files.privateKeyFile} (keep it secret) and ${files.publicKeyFile}`,
          `  key id ${pair.keyId}`,
          `  next: fixity key register ${files.publicKeyFile} --role signer`,
        ].join('\n'),
      );
    });

  key
    .command('register')
    .description('add a public key to the server trust store for one role (admin)')
    .argument('<public-key>', 'a PEM public key file, e.g. ci.pub')
    .requiredOption('--role <role>', KEY_ROLES.join(' | '))
    .option('--name <name>', 'a label (default: the file name)')
    .option('--valid-from <time>', 'RFC 3339 start of validity (default: now)')
    .option('--valid-until <time>', 'RFC 3339 end of validity (default: none)')
    .action(async (file: string, opts: { role: string; name?: string; validFrom?: string; validUntil?: string }) => {
      const g = globals();
      const registered = await resolveClient(g).client.registerKey({
        name: opts.name ?? basename(file).replace(/\.pub$/, ''),
        role: opts.role,
        publicKey: await readFile(file, 'utf8'),
        ...(opts.validFrom === undefined ? {} : { validFrom: opts.validFrom }),
        ...(opts.validUntil === undefined ? {} : { validUntil: opts.validUntil }),
      });
      emit(g, 'Key', registered, () => `✔ registered ${registered.keyId} as ${registered.role} (${registered.name})`);
    });

  key
    .command('list')
    .description('list the keys in the server trust store')
    .option('--role <role>', KEY_ROLES.join(' | '))
    .action(async (opts: { role?: string }) => {
      const g = globals();
      const items = await resolveClient(g).client.listKeys(opts.role);
      emit(g, 'KeyList', { items }, () =>
        table([
          ['KEY ID', 'NAME', 'ROLE', 'ALGORITHM', 'VALID FROM', 'VALID UNTIL', 'STATUS'],
          ...items.map((k) => [
            `${k.keyId.slice(0, 16)}…`,
            k.name,
            k.role,
            k.algorithm,
            k.validFrom,
            k.validUntil ?? '-',
            k.revokedAt === null ? 'active' : `revoked ${k.revokedAt}`,
          ]),
        ]),
      );
    });

  key
    .command('revoke')
    .description('revoke a key from now on (signatures logged before stay valid) (admin)')
    .argument('<key-id>', 'the key id (hex SHA-256 of its SPKI)')
    .requiredOption('--reason <text>', 'why, for the record')
    .action(async (keyId: string, opts: { reason: string }) => {
      const g = globals();
      const revoked = await resolveClient(g).client.revokeKey(keyId, opts.reason);
      emit(g, 'KeyRevocation', revoked, () => `✔ revoked ${keyId} at ${revoked.revokedAt}`);
    });
}
