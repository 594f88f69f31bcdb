import { createHash, createPublicKey, verify } from 'node:crypto';
import type { Signer } from '../core/index.ts';
import { LedgerError } from './ledger-error.ts';

// C2SP signed-note v1.0.0: text ending in "\n", a blank line, then lines "— <name> <base64(keyID || sig)>".

/** Signature type bytes assigned by the signed-note spec (the ones Fixity reads or writes). */
export const SIG_TYPE = { ed25519: 0x01, ecdsa: 0x02 } as const;
const MAX_SIGNATURES = 100; // Go's note package limit; the spec asks for at least 16
const DASH = '\u2014 ';
// Go rejects unicode.IsSpace; \s misses U+0085 (NEL).
const BAD_NAME = /[\s\u0085+]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the spec forbids these characters
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface NoteSignature {
  name: string;
  /** The 4-byte key ID that prefixes the signature. */
  keyHint: Buffer;
  signature: Buffer;
}

/** A key the verifier trusts: signatures are matched to it by name and key ID. */
export interface NoteVerifier {
  name: string;
  keyHint: Uint8Array;
  verify(text: Buffer, signature: Buffer): boolean;
}

/** Splits a signed note into its text and signature lines; throws NOTE_INVALID on anything malformed. */
export function parseNote(input: string | Uint8Array): { text: string; signatures: NoteSignature[] } {
  const invalid = (why: string) => new LedgerError('NOTE_INVALID', `Cannot parse signed note: ${why}`);
  const note = typeof input === 'string' ? input : decodeUtf8(input, invalid);
  if (!note.isWellFormed() || CONTROL.test(note)) throw invalid('it has control characters or invalid UTF-16');
  // The last blank line separates text from signatures; the text may contain blank lines of its own.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw invalid('no blank line before the signatures');
  const block = note.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw invalid('the signature block must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw invalid(`more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line, i) => {
    const space = line.indexOf(' ', DASH.length);
    if (!line.startsWith(DASH) || space < 0) throw invalid(`line ${i + 1} is not "— <name> <signature>"`);
    const name = line.slice(DASH.length, space);
    const b64 = line.slice(space + 1);
    if (!isValidName(name)) throw invalid(`key name on line ${i + 1} is empty or has spaces or "+"`);
    const raw = BASE64.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    if (raw.length < 5) throw invalid(`signature on line ${i + 1} is not base64 of a key ID and signature`);
    return { name, keyHint: raw.subarray(0, 4), signature: raw.subarray(4) };
  });
  return { text: note.slice(0, split + 1), signatures };
}

// Bytes from the wire are decoded strictly: a replacement character must not hide invalid UTF-8.
function decodeUtf8(bytes: Uint8Array, invalid: (why: string) => LedgerError): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw invalid('it is not valid UTF-8');
  }
}

/** Signs `text` and returns it as a signed note with one signature line. */
export async function signNote(text: string, name: string, keyHint: Uint8Array, signer: Signer): Promise<string> {
  if (!text.endsWith('\n') || !text.isWellFormed() || CONTROL.test(text)) {
    throw new LedgerError(
      'NOTE_INVALID',
      'Cannot sign note: text must end in a newline and have no control characters',
    );
  }
  if (!isValidName(name) || keyHint.length !== 4) {
    throw new LedgerError('KEY_INVALID', `Cannot sign note: key name "${name}" or its 4-byte key ID is invalid`);
  }
  const signature = await signer.sign(Buffer.from(text, 'utf8'));
  return `${text}\n${DASH}${name} ${Buffer.concat([keyHint, signature]).toString('base64')}\n`;
}

/**
 * Returns the note's text when at least one known key signed it and every signature by a known key verifies;
 * signatures by unknown keys are ignored, as the spec requires. Throws NOTE_INVALID, NOTE_SIGNATURE_INVALID or
 * NOTE_UNVERIFIED.
 */
export function verifyNote(note: string | Uint8Array, keys: readonly NoteVerifier[]): string {
  const { text, signatures } = parseNote(note);
  const message = Buffer.from(text, 'utf8');
  let verified = 0;
  for (const s of signatures) {
    const key = keys.find((k) => k.name === s.name && s.keyHint.equals(k.keyHint));
    if (key === undefined) continue;
    if (!safeVerify(key, message, s.signature)) {
      throw new LedgerError('NOTE_SIGNATURE_INVALID', `Cannot verify note: the signature by "${s.name}" is invalid`);
    }
    verified++;
  }
  if (verified === 0) throw new LedgerError('NOTE_UNVERIFIED', 'Cannot verify note: no known key signed it');
  return text;
}

function safeVerify(key: NoteVerifier, text: Buffer, signature: Buffer): boolean {
  try {
    return key.verify(text, signature);
  } catch {
    return false; // a malformed signature (e.g. bad DER) is just an invalid one
  }
}

/** The C2SP key ID: SHA-256(name || 0x0A || sigType || publicKey)[0:4]. */
export function noteKeyHint(name: string, sigType: number, publicKey: Uint8Array): Buffer {
  return createHash('sha256')
    .update(`${name}\n`)
    .update(Buffer.from([sigType]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

/** The sigstore (and C2SP ECDSA) key ID: SHA-256(SPKI DER)[0:4], the first bytes of the Rekor log ID. */
export function rekorKeyHint(spkiDer: Uint8Array): Buffer {
  return createHash('sha256').update(spkiDer).digest().subarray(0, 4);
}

// ECDSA (0x02) keys are SPKI DER and hinted by its hash; every other type uses the recommended formula.
const hintFor = (name: string, sigType: number, publicKey: Uint8Array) =>
  sigType === SIG_TYPE.ecdsa ? rekorKeyHint(publicKey) : noteKeyHint(name, sigType, publicKey);

/** A verifier key string: `<name>+<hex key ID>+<base64(sigType || publicKey)>`. */
export function vkeyOf(name: string, sigType: number, publicKey: Uint8Array): string {
  if (!isValidName(name)) throw new LedgerError('KEY_INVALID', `Cannot encode vkey: key name "${name}" is invalid`);
  const body = Buffer.concat([Buffer.from([sigType]), publicKey]).toString('base64');
  return `${name}+${hintFor(name, sigType, publicKey).toString('hex')}+${body}`;
}

/** Parses a vkey; for Ed25519 and ECDSA keys the key ID must match the key. */
export function parseVkey(vkey: string): { name: string; keyHint: Buffer; sigType: number; publicKey: Buffer } {
  const invalid = () => new LedgerError('KEY_INVALID', `Cannot parse vkey "${vkey.slice(0, 80)}"`);
  const parts = vkey.split('+');
  // The base64 body may itself contain "+", so rejoin everything after the key ID.
  const [name = '', hex = '', ...rest] = parts;
  const body = rest.join('+');
  if (!isValidName(name) || !/^[0-9a-f]{8}$/.test(hex) || !BASE64.test(body)) throw invalid();
  const raw = Buffer.from(body, 'base64');
  if (raw.length < 2) throw invalid();
  const keyHint = Buffer.from(hex, 'hex');
  const sigType = raw[0]!;
  const publicKey = raw.subarray(1);
  const checked = sigType === SIG_TYPE.ed25519 || sigType === SIG_TYPE.ecdsa;
  if (checked && !hintFor(name, sigType, publicKey).equals(keyHint)) throw invalid();
  return { name, keyHint, sigType, publicKey };
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A NoteVerifier for an Ed25519 vkey (signature type 0x01), e.g. a witness or another log. */
export function ed25519NoteVerifier(vkey: string): NoteVerifier {
  const { name, keyHint, sigType, publicKey } = parseVkey(vkey);
  if (sigType !== SIG_TYPE.ed25519 || publicKey.length !== 32) {
    throw new LedgerError('KEY_INVALID', `Cannot use vkey for "${name}": not an Ed25519 key`);
  }
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return { name, keyHint, verify: (text, signature) => verify(null, text, key, signature) };
}

function isValidName(name: string): boolean {
  return name !== '' && !BAD_NAME.test(name);
}
