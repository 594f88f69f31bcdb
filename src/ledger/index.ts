// The ledger room's public face: the pure half (hashing, proofs, tiles, notes, checkpoints) and the store-backed log.
export * from './pure.ts';
export * from './storage.ts';
