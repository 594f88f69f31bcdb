import type { Clock } from '../core/index.ts';
import type { Executor } from '../store/index.ts';

/**
 * A lease in the store: one holder at a time, renewed while it works, taken over once it expires. Two
 * servers on one PostgreSQL thus never reconcile at once; on SQLite it also guards a second process.
 */
export function createLease(deps: { db: Executor; clock: Clock; name: string; holder: string; ttlMs: number }) {
  const { db, clock, name, holder, ttlMs } = deps;
  return {
    holder,
    /** Takes or renews the lease; false while another holder's lease has not expired. */
    async acquire(): Promise<boolean> {
      const now = clock.now();
      const expires = new Date(now.getTime() + ttlMs).toISOString();
      const taken = await db
        .updateTable('deploy_leases')
        .set({ holder, expires_at: expires })
        .where('name', '=', name)
        .where((eb) => eb.or([eb('holder', '=', holder), eb('expires_at', '<', now.toISOString())]))
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) > 0) return true;
      await db
        .insertInto('deploy_leases')
        .values({ name, holder, expires_at: expires })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const row = await db.selectFrom('deploy_leases').select('holder').where('name', '=', name).executeTakeFirst();
      return row?.holder === holder;
    },
    /** Gives the lease up so another server can take over at once. */
    async release(): Promise<void> {
      await db.deleteFrom('deploy_leases').where('name', '=', name).where('holder', '=', holder).execute();
    },
  };
}
