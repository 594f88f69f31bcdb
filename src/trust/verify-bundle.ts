import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { Digest } from '../core/index.ts';
import type { SigstoreBundle } from './bundle.ts';
import { decodeBase64, verifyEnvelope } from './dsse.ts';
import { keyIdOf, verifySignature } from './keys.ts';
import { IN_TOTO_PAYLOAD_TYPE, parseStatement, type Statement } from './statement.ts';
import { type DecodedTlogEntry, decodeTlogEntry } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

/** A verified bundle: what was signed, by which key, and its tlog entries decoded for the ledger check. */
export type VerifiedBundle =
  | {
      kind: 'message-signature';
      keyId: string;
      /** The digest the signature covers: equal to the artifact's. */
      messageDigest: Digest;
      tlogEntries: DecodedTlogEntry[];
    }
  | {
      kind: 'dsse';
      keyId: string;
      payloadType: string;
      /** The verified payload bytes; `statement` is parsed from exactly these. */
      payload: Buffer;
      statement: Statement;
      tlogEntries: DecodedTlogEntry[];
    };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/**
 * Fixity's own bundle check: the signature with the key the hint names (over `artifact` for a message
 * signature, over the PAE of an in-toto envelope otherwise), and that every tlog body is about this very
 * signature, as sigstore-js checks it, and by this key. Inclusion proofs, checkpoints and SETs are left to the
 * ledger room: the decoded entries carry everything they need.
 */
export function verifyBundle(
  bundle: SigstoreBundle,
  options: { artifact?: Uint8Array; keys: (hint: string) => KeyObject | undefined },
): VerifiedBundle {
  const keyId = bundle.verificationMaterial.publicKey.hint;
  const key = options.keys(keyId);
  if (key === undefined)
    throw new TrustError('KEY_UNKNOWN', `Cannot verify the bundle: key ${short(keyId)} is not trusted`);
  const tlogEntries = bundle.verificationMaterial.tlogEntries.map(decodeTlogEntry);
  if (bundle.messageSignature !== undefined) {
    const { artifact } = options;
    if (artifact === undefined) {
      throw new TrustError('BUNDLE_INVALID', 'Cannot verify a message signature without the artifact it signs');
    }
    const digest = decodeBase64(bundle.messageSignature.messageDigest.digest, 'the message digest');
    const signature = decodeBase64(bundle.messageSignature.signature, 'the signature');
    if (!digest.equals(sha256(artifact))) {
      throw new TrustError('SUBJECT_MISMATCH', 'Cannot verify the bundle: its message digest is not the artifact’s');
    }
    if (!verifySignature(key, artifact, signature)) {
      throw new TrustError('SIGNATURE_INVALID', 'Cannot verify the bundle: the message signature does not verify');
    }
    for (const entry of tlogEntries) {
      const spec = bodyOf(entry, 'hashedrekord');
      checkBody(
        spec.signature?.content,
        signature,
        spec.data?.hash?.value,
        digest,
        spec.signature?.publicKey?.content,
        keyId,
      );
    }
    return { kind: 'message-signature', keyId, messageDigest: `sha256:${digest.toString('hex')}`, tlogEntries };
  }
  const envelope = bundle.dsseEnvelope;
  if (envelope === undefined) throw new TrustError('BUNDLE_INVALID', 'Cannot verify the bundle: it has no content');
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new TrustError(
      'BUNDLE_INVALID',
      `Cannot verify the bundle: payload type ${envelope.payloadType} is not in-toto`,
    );
  }
  const payload = verifyEnvelope(envelope, [key]);
  const signature = decodeBase64(envelope.signatures[0]?.sig ?? '', 'the signature');
  for (const entry of tlogEntries) {
    const spec = bodyOf(entry, 'dsse');
    const signatures = Array.isArray(spec.signatures) ? spec.signatures : [];
    if (signatures.length !== 1) throw mismatch('it does not hold exactly one signature');
    checkBody(
      signatures[0]?.signature,
      signature,
      spec.payloadHash?.value,
      sha256(payload),
      signatures[0]?.verifier,
      keyId,
    );
  }
  return {
    kind: 'dsse',
    keyId,
    payloadType: envelope.payloadType,
    payload,
    statement: parseStatement(payload),
    tlogEntries,
  };
}

// Loosely typed on purpose: every field is checked before use.
// biome-ignore lint/suspicious/noExplicitAny: an untrusted Rekor body, read field by field
type Spec = Record<string, any>;

function bodyOf(entry: DecodedTlogEntry, kind: 'hashedrekord' | 'dsse'): Spec {
  let body: { kind?: unknown; apiVersion?: unknown; spec?: unknown };
  try {
    body = JSON.parse(entry.canonicalizedBody.toString('utf8'));
  } catch {
    throw mismatch('its body is not JSON');
  }
  if (body.kind !== kind || body.apiVersion !== '0.0.1' || entry.kind !== kind || entry.version !== '0.0.1') {
    throw mismatch(`it is not a ${kind} 0.0.1 entry`);
  }
  if (typeof body.spec !== 'object' || body.spec === null) throw mismatch('it has no spec');
  return body.spec as Spec;
}

function checkBody(
  loggedSignature: unknown,
  signature: Buffer,
  loggedHash: unknown,
  hash: Buffer,
  loggedKey: unknown,
  keyId: string,
): void {
  if (typeof loggedSignature !== 'string' || !Buffer.from(loggedSignature, 'base64').equals(signature)) {
    throw mismatch('it records another signature');
  }
  if (typeof loggedHash !== 'string' || loggedHash !== hash.toString('hex'))
    throw mismatch('it records another digest');
  let logged: string | undefined;
  try {
    logged = keyIdOf(createPublicKey(Buffer.from(String(loggedKey), 'base64').toString('utf8')));
  } catch {}
  if (logged !== keyId) throw mismatch('it records another key');
}

const mismatch = (why: string) =>
  new TrustError('BUNDLE_INVALID', `Cannot verify the bundle: a tlog entry does not match: ${why}`);
const short = (keyId: string) => `${keyId.slice(0, 16)}…`;
