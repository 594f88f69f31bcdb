/** Tables of the trust store (migration 0002). */
export type TrustTables = {};
