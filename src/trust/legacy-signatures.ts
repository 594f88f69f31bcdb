import { z } from 'zod';
import { type Digest, isDigest } from '../core/index.ts';
import type { ImageReference, RegistryClient } from '../oci/index.ts';
import {
  DSSE_ENVELOPE_MEDIA_TYPE,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  TLOG_ENTRY_ANNOTATION,
} from './cosign.ts';
import { parseTlogEntry, type TlogEntryJSON } from './tlog-entry.ts';
import { TrustError } from './trust-error.ts';

// Reading cosign's legacy `.sig`/`.att` manifests back: untrusted input from any registry.

const ManifestSchema = z.object({
  layers: z.array(
    z.object({
      mediaType: z.string(),
      digest: z.string().refine(isDigest, 'not a digest'),
      size: z.number().int().nonnegative(),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
});

/** A signature read back from a legacy manifest: the payload blob to fetch, and the detached signature. */
export interface LegacySignatureRef {
  mediaType: string;
  payloadDigest: Digest;
  size: number;
  /** Empty for DSSE layers, whose signature is inside the envelope. */
  signature: Buffer;
  annotations: Record<string, string>;
}

/** Reads a `.sig`/`.att` manifest back into (payload digest, signature) pairs; other layers are skipped. */
export function parseLegacySignatureManifest(bytes: Uint8Array): LegacySignatureRef[] {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new TrustError('SIGNATURE_MANIFEST_INVALID', 'Cannot read the signature manifest: not JSON', { cause: err });
  }
  const parsed = ManifestSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TrustError(
      'SIGNATURE_MANIFEST_INVALID',
      `Cannot read the signature manifest: ${issue?.path.join('.')}: ${issue?.message}`,
    );
  }
  const known: string[] = [SIMPLE_SIGNING_MEDIA_TYPE, DSSE_ENVELOPE_MEDIA_TYPE];
  return parsed.data.layers
    .filter((l) => known.includes(l.mediaType))
    .map((l) => {
      const annotations = l.annotations ?? {};
      const b64 = annotations[SIGNATURE_ANNOTATION] ?? '';
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || (b64 === '' && l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE)) {
        throw new TrustError(
          'SIGNATURE_MANIFEST_INVALID',
          `Cannot read the signature of layer ${l.digest}: not base64`,
        );
      }
      return {
        mediaType: l.mediaType,
        payloadDigest: l.digest as Digest,
        size: l.size,
        signature: Buffer.from(b64, 'base64'),
        annotations,
      };
    });
}

/** A simple-signing layer read back with its payload: reusable as input when appending a signature. */
export interface LegacySignature {
  payloadDigest: Digest;
  payload: Buffer;
  signature: Buffer;
  annotations: Record<string, string>;
  /** From Fixity's annotation, when the signature was logged. */
  tlogEntry?: TlogEntryJSON;
}

// A payload is a few hundred bytes; refuse to download what a hostile manifest claims is huge.
const MAX_PAYLOAD = 1 << 20;

/** Reads the simple-signing layers of a `.sig` manifest, fetching each payload (digest-verified) from the registry. */
export async function readLegacySignatures(
  manifest: Uint8Array,
  registry: Pick<RegistryClient, 'getBlob'>,
  ref: ImageReference,
): Promise<LegacySignature[]> {
  const out: LegacySignature[] = [];
  for (const layer of parseLegacySignatureManifest(manifest)) {
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    if (layer.size > MAX_PAYLOAD) {
      throw new TrustError(
        'SIGNATURE_MANIFEST_INVALID',
        `Cannot read signature payload ${layer.payloadDigest}: over 1 MiB`,
      );
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of registry.getBlob(ref, layer.payloadDigest, layer.size)) chunks.push(chunk);
    const entry = layer.annotations[TLOG_ENTRY_ANNOTATION];
    out.push({
      payloadDigest: layer.payloadDigest,
      payload: Buffer.concat(chunks),
      signature: layer.signature,
      annotations: layer.annotations,
      ...(entry === undefined ? {} : { tlogEntry: parseTlogEntry(parseJSON(entry, layer.payloadDigest)) }),
    });
  }
  return out;
}

function parseJSON(text: string, layer: Digest): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TrustError('SIGNATURE_MANIFEST_INVALID', `Cannot read the tlog entry of layer ${layer}: not JSON`, {
      cause: err,
    });
  }
}
