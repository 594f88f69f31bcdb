// Rooms a command loads when it runs, not when the CLI starts. The trust room brings zod and every schema,
// the ledger room the store's database drivers (Kysely alone is 262 modules): loaded eagerly, they tripled
// the start-up of every command, `--help` included.
export const trustRoom = () => import('../trust/index.ts');
export const ledgerRoom = () => import('../ledger/index.ts');
