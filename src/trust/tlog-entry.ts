import { z } from 'zod';
import { decodeBase64 } from './dsse.ts';
import type { RekorKind } from './rekor.ts';
import { TrustError } from './trust-error.ts';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** A bundle `tlogEntries` item in protobuf-JSON (int64 as strings, bytes as base64). */
export interface TlogEntryJSON {
  logIndex: string;
  logId: { keyId: string };
  kindVersion: { kind: string; version: string };
  integratedTime: string;
  inclusionPromise?: { signedEntryTimestamp: string };
  inclusionProof?: {
    logIndex: string;
    rootHash: string;
    treeSize: string;
    hashes: string[];
    checkpoint: { envelope: string };
  };
  canonicalizedBody: string;
}

export interface InclusionProofInput {
  logIndex: number;
  rootHash: Uint8Array;
  treeSize: number;
  hashes: readonly Uint8Array[];
  /** The signed checkpoint (C2SP signed note) whose root the proof leads to. */
  checkpoint: string;
}

/** Shapes a logged entry for a bundle; `kind` defaults to the body's own `kind` (version 0.0.1). */
export function tlogEntry(input: {
  logIndex: number;
  /** Hex SHA-256 of the log key's SPKI DER. */
  logId: string;
  kind?: RekorKind;
  integratedTime: number;
  canonicalizedBody: Uint8Array;
  inclusionProof: InclusionProofInput;
  signedEntryTimestamp?: Uint8Array;
}): TlogEntryJSON {
  const p = input.inclusionProof;
  return {
    logIndex: String(input.logIndex),
    logId: { keyId: Buffer.from(input.logId, 'hex').toString('base64') },
    kindVersion: { kind: input.kind ?? bodyKind(input.canonicalizedBody), version: '0.0.1' },
    integratedTime: String(input.integratedTime),
    ...(input.signedEntryTimestamp === undefined
      ? {}
      : { inclusionPromise: { signedEntryTimestamp: b64(input.signedEntryTimestamp) } }),
    inclusionProof: {
      logIndex: String(p.logIndex),
      rootHash: b64(p.rootHash),
      treeSize: String(p.treeSize),
      hashes: p.hashes.map(b64),
      checkpoint: { envelope: p.checkpoint },
    },
    canonicalizedBody: b64(input.canonicalizedBody),
  };
}

function bodyKind(body: Uint8Array): string {
  try {
    const kind = (JSON.parse(Buffer.from(body).toString('utf8')) as { kind?: unknown }).kind;
    if (kind === 'hashedrekord' || kind === 'dsse') return kind;
  } catch {}
  throw new TrustError('TLOG_ENTRY_INVALID', 'Cannot shape a tlog entry: the body is not a hashedrekord or dsse entry');
}

/** A tlog entry with every field decoded, for the ledger room's inclusion, checkpoint and SET checks. */
export interface DecodedTlogEntry {
  logIndex: number;
  /** Hex. */
  logId: string;
  kind: string;
  version: string;
  integratedTime: number;
  /** The exact leaf bytes: the leaf hash is SHA-256(0x00 || these). */
  canonicalizedBody: Buffer;
  signedEntryTimestamp?: Buffer;
  inclusionProof?: { logIndex: number; rootHash: Buffer; treeSize: number; hashes: Buffer[]; checkpoint: string };
}

const Int64 = z
  .union([z.string().regex(/^\d{1,16}$/), z.number().int().nonnegative()])
  .transform(Number)
  .pipe(z.number().int().max(Number.MAX_SAFE_INTEGER));
const B64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'not base64');
const TlogEntrySchema = z.object({
  logIndex: Int64,
  logId: z.object({ keyId: B64 }),
  kindVersion: z.object({ kind: z.string(), version: z.string() }),
  integratedTime: Int64,
  inclusionPromise: z.object({ signedEntryTimestamp: B64 }).optional(),
  inclusionProof: z
    .object({
      logIndex: Int64,
      rootHash: B64,
      treeSize: Int64,
      hashes: z.array(B64),
      checkpoint: z.object({ envelope: z.string() }),
    })
    .optional(),
  canonicalizedBody: B64.min(1),
});

/** Checks an untrusted tlog entry (e.g. a server's answer) and returns it in canonical protobuf-JSON form. */
export function parseTlogEntry(value: unknown): TlogEntryJSON {
  const parsed = TlogEntrySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TrustError(
      'TLOG_ENTRY_INVALID',
      `Cannot read the tlog entry: ${issue?.path.join('.') || 'value'}: ${issue?.message}`,
    );
  }
  const e = parsed.data;
  const p = e.inclusionProof;
  return {
    logIndex: String(e.logIndex),
    logId: e.logId,
    kindVersion: e.kindVersion,
    integratedTime: String(e.integratedTime),
    ...(e.inclusionPromise === undefined ? {} : { inclusionPromise: e.inclusionPromise }),
    ...(p === undefined
      ? {}
      : { inclusionProof: { ...p, logIndex: String(p.logIndex), treeSize: String(p.treeSize) } }),
    canonicalizedBody: e.canonicalizedBody,
  };
}

/** Decodes a tlog entry (parsed first when untrusted) into bytes and numbers. */
export function decodeTlogEntry(value: unknown): DecodedTlogEntry {
  const e = parseTlogEntry(value);
  const bytes = (text: string, what: string) => decodeBase64(text, what);
  const p = e.inclusionProof;
  return {
    logIndex: Number(e.logIndex),
    logId: bytes(e.logId.keyId, 'the log id').toString('hex'),
    kind: e.kindVersion.kind,
    version: e.kindVersion.version,
    integratedTime: Number(e.integratedTime),
    canonicalizedBody: bytes(e.canonicalizedBody, 'the body'),
    ...(e.inclusionPromise === undefined
      ? {}
      : { signedEntryTimestamp: bytes(e.inclusionPromise.signedEntryTimestamp, 'the SET') }),
    ...(p === undefined
      ? {}
      : {
          inclusionProof: {
            logIndex: Number(p.logIndex),
            rootHash: bytes(p.rootHash, 'the root hash'),
            treeSize: Number(p.treeSize),
            hashes: p.hashes.map((h) => bytes(h, 'a proof hash')),
            checkpoint: p.checkpoint.envelope,
          },
        }),
  };
}
