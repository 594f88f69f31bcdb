/** Tables of the ledger (migration 0003). */
export type LedgerTables = {};
