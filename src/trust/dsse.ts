import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Signer } from '../core/index.ts';
import { keyIdOf, verifySignature } from './keys.ts';
import { TrustError } from './trust-error.ts';

// Standard or URL-safe alphabet, as DSSE verifiers must accept both.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const base64 = z.string().regex(BASE64, 'not base64');

const EnvelopeSchema = z.object({
  payload: base64,
  payloadType: z.string(),
  signatures: z.array(z.object({ keyid: z.string().optional(), sig: base64 })).min(1),
});

/** A DSSE v1 envelope (JSON form): base64 payload, its type, and one or more signatures. */
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** Decodes standard or URL-safe base64, refusing any other character (Node would skip them silently). */
export function decodeBase64(text: string, what: string): Buffer {
  if (!BASE64.test(text)) throw new TrustError('ENVELOPE_INVALID', `Cannot decode ${what}: it is not base64`);
  return Buffer.from(text, 'base64');
}

/** DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.byteLength} `, 'utf8'),
    type,
    Buffer.from(` ${payload.byteLength} `, 'utf8'),
    payload,
  ]);
}

/** Signs `payload` into an envelope with one signature whose keyid is the signer's key id. */
export async function signEnvelope(signer: Signer, payloadType: string, payload: Uint8Array): Promise<Envelope> {
  const sig = await signer.sign(pae(payloadType, payload));
  return {
    payload: Buffer.from(payload).toString('base64'),
    payloadType,
    signatures: [{ keyid: signer.keyId, sig: Buffer.from(sig).toString('base64') }],
  };
}

/** Checks an untrusted value is an envelope; throws ENVELOPE_INVALID naming the first problem. */
export function parseEnvelope(value: unknown): Envelope {
  const parsed = EnvelopeSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TrustError(
      'ENVELOPE_INVALID',
      `Cannot parse the DSSE envelope: ${issue?.path.join('.') || 'value'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * Returns the payload bytes once a signature by one of `publicKeys` verifies over their PAE. The caller must
 * use exactly these bytes (never decode the envelope again). A keyid, when present, only orders the tries.
 */
export function verifyEnvelope(envelope: Envelope, publicKeys: readonly KeyObject[]): Buffer {
  const { payloadType, signatures, ...rest } = parseEnvelope(envelope);
  const payload = decodeBase64(rest.payload, 'the payload');
  const message = pae(payloadType, payload);
  const keys = publicKeys.map((key) => ({ key, id: keyIdOf(key) }));
  for (const { keyid, sig } of signatures) {
    const signature = decodeBase64(sig, 'a signature');
    const ordered = [...keys].sort((a, b) => Number(b.id === keyid) - Number(a.id === keyid));
    if (ordered.some(({ key }) => verifySignature(key, message, signature))) return payload;
  }
  throw new TrustError(
    'SIGNATURE_INVALID',
    'Cannot verify the DSSE envelope: no signature verifies with a trusted key',
  );
}
