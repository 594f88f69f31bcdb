import { createHash } from 'node:crypto';
import { canonicalBytes } from '../core/index.ts';
import { decodeBase64, type Envelope } from './dsse.ts';
import { TrustError } from './trust-error.ts';

// Rekor v1 entry bodies (pkg/types/{hashedrekord,dsse}/v0.0.1), as plain objects: the ledger adds its own
// fields (event, actor, time, digests) before canonicalising; sigstore-js reads only kind, apiVersion, spec.

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');

export type RekorKind = 'hashedrekord' | 'dsse';

export interface HashedRekordBody {
  apiVersion: '0.0.1';
  kind: 'hashedrekord';
  spec: {
    data: { hash: { algorithm: 'sha256'; value: string } };
    signature: { content: string; publicKey: { content: string } };
  };
}

export interface DSSEBody {
  apiVersion: '0.0.1';
  kind: 'dsse';
  spec: {
    envelopeHash: { algorithm: 'sha256'; value: string };
    payloadHash: { algorithm: 'sha256'; value: string };
    signatures: Array<{ signature: string; verifier: string }>;
  };
}

/** A hashedrekord 0.0.1 body: the artifact's SHA-256 (hex), the signature and the PEM key (both base64). */
export function hashedrekordBody(input: {
  digestHex: string;
  signature: Uint8Array;
  publicKeyPem: string;
}): HashedRekordBody {
  if (!/^[0-9a-f]{64}$/.test(input.digestHex)) {
    throw new TrustError(
      'TLOG_ENTRY_INVALID',
      'Cannot shape a hashedrekord entry: the digest must be 64 lowercase hex',
    );
  }
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: input.digestHex } },
      signature: { content: b64(input.signature), publicKey: { content: b64(input.publicKeyPem) } },
    },
  };
}

/**
 * A dsse 0.0.1 body for a one-signature envelope. `envelopeHash` covers the envelope's canonical JSON (Rekor
 * hashes the envelope as submitted; canonical JSON makes that reproducible); `payloadHash` the decoded payload.
 */
export function dsseBody(input: { envelope: Envelope; publicKeyPem: string }): DSSEBody {
  const { envelope } = input;
  const signature = envelope.signatures[0];
  if (envelope.signatures.length !== 1 || signature === undefined) {
    throw new TrustError('ENVELOPE_INVALID', 'Cannot shape a dsse entry: the envelope needs exactly one signature');
  }
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256Hex(canonicalBytes(envelope)) },
      payloadHash: { algorithm: 'sha256', value: sha256Hex(decodeBase64(envelope.payload, 'the payload')) },
      signatures: [{ signature: signature.sig, verifier: b64(input.publicKeyPem) }],
    },
  };
}

/** The bytes a signed entry timestamp (SET) signs: what sigstore-js `tlog/set.js` rebuilds to verify it. */
export function setPayload(input: {
  body: Uint8Array;
  integratedTime: number;
  logIndex: number;
  logId: string;
}): Buffer {
  return Buffer.from(
    canonicalBytes({
      body: b64(input.body),
      integratedTime: input.integratedTime,
      logIndex: input.logIndex,
      logID: input.logId,
    }),
  );
}
