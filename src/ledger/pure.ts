// The ledger's pure half (hashing, proofs, tiles, signed notes, checkpoints), for index.ts to re-export.
export type { Checkpoint, CheckpointInput } from './checkpoint.ts';
export { checkpointVerifier, formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
export type { LedgerErrorCode } from './ledger-error.ts';
export { LedgerError } from './ledger-error.ts';
export type { TreeBuilder } from './merkle.ts';
export { createTreeBuilder, EMPTY_ROOT, leafHash, nodeHash, popcount, rootOf } from './merkle.ts';
export type { NoteSignature, NoteVerifier } from './note.ts';
export {
  ed25519NoteVerifier,
  noteKeyHint,
  parseNote,
  parseVkey,
  rekorKeyHint,
  SIG_TYPE,
  signNote,
  verifyNote,
  vkeyOf,
} from './note.ts';
export type { NodeId } from './proof.ts';
export {
  consistencyProof,
  consistencyProofNodes,
  inclusionProof,
  inclusionProofNodes,
  rangeNodes,
  verifyConsistency,
  verifyInclusion,
} from './proof.ts';
export type { TilePath } from './tiles.ts';
export {
  decodeEntryBundle,
  encodeEntryBundle,
  entriesPath,
  nodeFromTile,
  parseTilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
  tileForNode,
  tilePath,
  tileWidthAt,
} from './tiles.ts';
