// The ledger's store-backed half (sequencer, proofs from tiles, verification, export), for index.ts to re-export.
export { eventLeaf } from './event-leaf.ts';
export type {
  CheckpointRecord,
  InclusionProof,
  Ledger,
  LedgerEntry,
  LedgerOptions,
  SignedCheckpoint,
} from './ledger.ts';
export { createLedger } from './ledger.ts';
export { exportLedgerArchive } from './ledger-archive.ts';
export type { LedgerProblem, LedgerProblemKind, LedgerReport } from './ledger-report.ts';
export type { AppendedEntry, EntryInput } from './sequencer.ts';
export { verifyLedgerArchive } from './verify-archive.ts';
export type { ConsistencyCheck, PreviousCheckpoint } from './verify-ledger.ts';
