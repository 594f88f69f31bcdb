import { type KeyObject, verify } from 'node:crypto';
import type { Signer } from '../core/index.ts';
import { LedgerError } from './ledger-error.ts';
import { type NoteVerifier, rekorKeyHint, signNote, verifyNote } from './note.ts';

// C2SP tlog-checkpoint: "<origin>\n<size>\n<base64 root>\n" plus optional extension lines, as a signed note.
// The signature line follows the sigstore convention (research §5.6) so stock sigstore clients read it:
// key name = origin, key ID = SHA-256(SPKI DER)[0:4].

/** A log's tree head: the log's origin line, the tree size and the RFC 6962 root hash. */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** Opaque extension lines (NOT RECOMMENDED by the spec, kept so a parsed checkpoint re-formats exactly). */
  extensions: string[];
}

export interface CheckpointInput {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions?: readonly string[];
}

const SIZE = /^(?:0|[1-9][0-9]*)$/;
const BASE64_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** The checkpoint's note text. */
export function formatCheckpoint(cp: CheckpointInput): string {
  const invalid = (why: string) => new LedgerError('CHECKPOINT_INVALID', `Cannot format checkpoint: ${why}`);
  if (cp.origin === '' || cp.origin.includes('\n')) throw invalid('the origin must be one non-empty line');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw invalid(`size ${cp.size} is not a non-negative integer`);
  if (cp.root.length !== 32) throw invalid('the root hash must be 32 bytes');
  const extensions = cp.extensions ?? [];
  if (extensions.some((e) => e === '' || e.includes('\n'))) throw invalid('extension lines must be non-empty lines');
  const lines = [cp.origin, String(cp.size), Buffer.from(cp.root).toString('base64'), ...extensions];
  return `${lines.join('\n')}\n`;
}

/** Parses checkpoint note text strictly (canonical size and base64, 32-byte root); keeps extension lines. */
export function parseCheckpoint(text: string): Checkpoint {
  const invalid = (why: string) => new LedgerError('CHECKPOINT_INVALID', `Cannot parse checkpoint: ${why}`);
  if (!text.endsWith('\n')) throw invalid('the text must end with a newline');
  const [origin = '', size = '', root = '', ...extensions] = text.slice(0, -1).split('\n');
  if (origin === '') throw invalid('the origin line is empty');
  if (!SIZE.test(size) || !Number.isSafeInteger(Number(size)))
    throw invalid(`"${size.slice(0, 40)}" is not a tree size`);
  // The last character class limits the final base64 digit to ones with zero padding bits (canonical form).
  if (!BASE64_32.test(root)) throw invalid('the root line is not the base64 of a 32-byte hash');
  if (extensions.includes('')) throw invalid('an extension line is empty');
  return { origin, size: Number(size), root: Buffer.from(root, 'base64'), extensions };
}

/** Signs a checkpoint of the log `origin` as a signed note whose key name is the origin. */
export async function signCheckpoint(
  cp: Omit<CheckpointInput, 'origin'> & { origin?: string },
  signer: Signer,
  origin: string,
): Promise<string> {
  if (cp.origin !== undefined && cp.origin !== origin) {
    throw new LedgerError('CHECKPOINT_INVALID', `Cannot sign checkpoint: its origin is not "${origin}"`);
  }
  const text = formatCheckpoint({ ...cp, origin });
  return signNote(text, origin, rekorKeyHint(spkiOf(signer.publicKey)), signer);
}

/** The note verifier for checkpoints of `origin` signed by `publicKey` (ECDSA P-256/SHA-256 or Ed25519). */
export function checkpointVerifier(publicKey: KeyObject, origin: string): NoteVerifier {
  // ECDSA signatures are DER over SHA-256 of the text; Ed25519 signs the text itself.
  const algorithm = publicKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return {
    name: origin,
    keyHint: rekorKeyHint(spkiOf(publicKey)),
    verify: (text, signature) => verify(algorithm, text, publicKey, signature),
  };
}

/**
 * Verifies a signed checkpoint of `origin` against the log's public key, then parses it. Throws a NOTE_* code
 * when the signature does not hold and CHECKPOINT_INVALID when the signed text is not a checkpoint of `origin`.
 */
export function openCheckpoint(note: string | Uint8Array, publicKey: KeyObject, origin: string): Checkpoint {
  const cp = parseCheckpoint(verifyNote(note, [checkpointVerifier(publicKey, origin)]));
  if (cp.origin !== origin) {
    throw new LedgerError('CHECKPOINT_INVALID', `Cannot open checkpoint: origin "${cp.origin}" is not "${origin}"`);
  }
  return cp;
}

function spkiOf(key: KeyObject): Buffer {
  if (key.type !== 'public') throw new LedgerError('KEY_INVALID', 'Cannot use key: a public key is required');
  return key.export({ type: 'spki', format: 'der' });
}
