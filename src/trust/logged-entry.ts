import type { Signer } from '../core/index.ts';
import { keyIdOf } from './keys.ts';
import type { RekorKind } from './rekor.ts';
import { setPayload } from './rekor.ts';
import { type TlogEntryJSON, tlogEntry } from './tlog-entry.ts';

/** What the ledger answers for an appended leaf (structurally the ledger room's `InclusionProof`). */
export interface LedgerProof {
  treeSize: number;
  rootHash: Uint8Array;
  hashes: readonly Uint8Array[];
  /** The signed checkpoint of `treeSize`. */
  checkpoint: string;
}

/**
 * The bundle `tlogEntries` item for a leaf the server's ledger holds at `logIndex`: its inclusion proof, and a
 * signed entry timestamp by the ledger key (the log id) over the body, index and integrated time.
 */
export async function loggedTlogEntry(input: {
  ledgerSigner: Signer;
  logIndex: number;
  kind: RekorKind;
  body: Uint8Array;
  /** When the leaf was logged (Unix seconds). */
  integratedTime: number;
  proof: LedgerProof;
}): Promise<TlogEntryJSON> {
  const { ledgerSigner, logIndex, body, integratedTime, proof } = input;
  const logId = keyIdOf(ledgerSigner.publicKey);
  const set = await ledgerSigner.sign(setPayload({ body, integratedTime, logIndex, logId }));
  return tlogEntry({
    logIndex,
    logId,
    kind: input.kind,
    integratedTime,
    canonicalizedBody: body,
    inclusionProof: {
      logIndex,
      rootHash: proof.rootHash,
      treeSize: proof.treeSize,
      hashes: proof.hashes,
      checkpoint: proof.checkpoint,
    },
    signedEntryTimestamp: set,
  });
}
