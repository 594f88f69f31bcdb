import { z } from 'zod';
import { type Digest, parseDigest } from '../core/index.ts';
import type { Envelope } from './dsse.ts';
import { parseTlogEntry, type TlogEntryJSON } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
// Older spellings @sigstore/bundle still accepts; v0.2 and later carry inclusion proofs like v0.3.
const MEDIA_TYPES = [
  BUNDLE_MEDIA_TYPE,
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
] as const;

/** A Sigstore bundle for a self-managed key, in protobuf-JSON (camelCase, bytes base64, int64 as strings). */
export interface SigstoreBundle {
  mediaType: (typeof MEDIA_TYPES)[number];
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: TlogEntryJSON[] };
  messageSignature?: { messageDigest: { algorithm: 'SHA2_256'; digest: string }; signature: string };
  dsseEnvelope?: Envelope;
}

/** What a bundle carries: a signature over an artifact's bytes, or a DSSE envelope. */
export type BundleContent =
  | { kind: 'message-signature'; digest: Digest; signature: Uint8Array }
  | { kind: 'dsse'; envelope: Envelope };

/**
 * A bundle v0.3 with `publicKey.hint` = key id, which is also the DSSE envelope's one keyid (the spec wants
 * them equal). `tlogEntries` are checked (they usually come from a server) and may be empty.
 */
export function createBundle(input: {
  keyId: string;
  content: BundleContent;
  tlogEntries?: readonly unknown[];
}): SigstoreBundle {
  const verificationMaterial = {
    publicKey: { hint: input.keyId },
    tlogEntries: (input.tlogEntries ?? []).map(parseTlogEntry),
  };
  const { content } = input;
  if (content.kind === 'dsse') {
    const { signatures } = content.envelope;
    if (signatures.length !== 1 || signatures[0]?.keyid !== input.keyId) {
      throw new TrustError(
        'BUNDLE_INVALID',
        'Cannot create the bundle: the envelope needs one signature whose keyid is the key id',
      );
    }
    return { mediaType: BUNDLE_MEDIA_TYPE, verificationMaterial, dsseEnvelope: content.envelope };
  }
  const { algorithm, hex } = parseDigest(content.digest);
  if (algorithm !== 'sha256')
    throw new TrustError('BUNDLE_INVALID', 'Cannot create the bundle: the digest must be sha256');
  return {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial,
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(hex, 'hex').toString('base64') },
      signature: Buffer.from(content.signature).toString('base64'),
    },
  };
}

const B64 = z
  .string()
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'not base64')
  .min(1);
const BundleSchema = z
  .object({
    mediaType: z.enum(MEDIA_TYPES),
    verificationMaterial: z.object({
      publicKey: z.object(
        { hint: z.string().min(1) },
        { error: 'a public-key hint is required (certificates are not supported)' },
      ),
      tlogEntries: z.array(z.unknown()),
    }),
    messageSignature: z
      .object({ messageDigest: z.object({ algorithm: z.literal('SHA2_256'), digest: B64 }), signature: B64 })
      .optional(),
    dsseEnvelope: z
      .object({
        payload: B64,
        payloadType: z.string().min(1),
        signatures: z.array(z.object({ keyid: z.string().optional(), sig: B64 })).length(1, 'exactly one signature'),
      })
      .optional(),
  })
  .refine((b) => (b.messageSignature === undefined) !== (b.dsseEnvelope === undefined), {
    error: 'exactly one of messageSignature and dsseEnvelope',
  })
  .refine(
    (b) =>
      !b.dsseEnvelope?.signatures[0]?.keyid ||
      b.dsseEnvelope.signatures[0].keyid === b.verificationMaterial.publicKey.hint,
    {
      error: 'the envelope keyid differs from the public-key hint',
    },
  );

/** Parses bundle JSON (bytes, text or a decoded value); throws BUNDLE_INVALID naming what is wrong. */
export function parseBundle(input: Uint8Array | string | object): SigstoreBundle {
  let value: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      value = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
    } catch (err) {
      throw new TrustError('BUNDLE_INVALID', 'Cannot parse the bundle: it is not JSON', { cause: err });
    }
  }
  const parsed = BundleSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new TrustError('BUNDLE_INVALID', `Cannot parse the bundle: ${where}${issue?.message ?? 'invalid'}`);
  }
  const { mediaType, verificationMaterial, messageSignature, dsseEnvelope } = parsed.data;
  const tlogEntries = verificationMaterial.tlogEntries.map((entry, i) => {
    try {
      return parseTlogEntry(entry);
    } catch (err) {
      const why = (err as Error).message.replace(/^Cannot read the tlog entry: /, '');
      throw new TrustError('BUNDLE_INVALID', `Cannot parse the bundle: verificationMaterial.tlogEntries.${i}.${why}`, {
        cause: err,
      });
    }
  });
  return {
    mediaType,
    verificationMaterial: { publicKey: verificationMaterial.publicKey, tlogEntries },
    ...(messageSignature === undefined ? {} : { messageSignature }),
    ...(dsseEnvelope === undefined ? {} : { dsseEnvelope }),
  };
}
