// Blob records: which blobs the store holds, which repositories see them, and which ones garbage collection
// may forget. Links go through a group commit because a push links many blobs and every commit is made durable.
import type { Digest } from '../core/index.ts';
import { appendEvent } from './events.ts';
import { createGroupCommit } from './group-commit.ts';
import type { RegistryContext } from './registry-context.ts';

export function createBlobMetadata(ctx: RegistryContext) {
  const { db, dialect, now, transaction } = ctx;

  // One multi-row statement per table for a whole batch; rows go in chunks of LINK_ROWS so the number of
  // distinct statement texts (each one prepared and cached) stays small.
  // Repositories are never deleted, so one seen committed needs no insert on later pushes.
  const knownRepos = new Set<string>();
  const link = createGroupCommit<{ repo: string; digest: Digest; size: number }>(async (items) => {
    const newRepos = [...new Set(items.map((i) => i.repo))].filter((repo) => !knownRepos.has(repo));
    await transaction(async (trx) => {
      const at = now();
      const repos = newRepos.map((name) => ({ name, created_at: at }));
      // PostgreSQL refuses to update one row twice in a statement: one row per digest and per link.
      const blobs = [...new Map(items.map((i) => [i.digest, i.size]))].map(([digest, size]) => ({
        digest,
        size,
        created_at: at,
        last_linked_at: at,
      }));
      const links = [...new Map(items.map((i) => [`${i.repo} ${i.digest}`, i]))].map(([, { repo, digest }]) => ({
        repo,
        digest,
        created_at: at,
      }));
      for (const rows of chunked(repos)) {
        await trx
          .insertInto('repositories')
          .values(rows)
          .onConflict((oc) => oc.column('name').doNothing())
          .execute();
      }
      for (const rows of chunked(blobs)) {
        await trx
          .insertInto('blobs')
          .values(rows)
          .onConflict((oc) => oc.column('digest').doUpdateSet({ last_linked_at: at }))
          .execute();
      }
      for (const rows of chunked(links)) {
        await trx
          .insertInto('repo_blobs')
          .values(rows)
          .onConflict((oc) => oc.columns(['repo', 'digest']).doNothing())
          .execute();
      }
    });
    for (const repo of newRepos) knownRepos.add(repo);
  });

  return {
    /**
     * Records a stored blob and makes it visible in `repo`; refreshes its garbage-collection grace period.
     * Concurrent calls share one transaction (group commit): small pushes are bound by commits.
     */
    linkBlob: (repo: string, digest: Digest, size: number): Promise<void> => link({ repo, digest, size }),

    /** Size of a blob visible in `repo`, or null. */
    async blobSize(repo: string, digest: Digest): Promise<number | null> {
      const row = await db
        .selectFrom('repo_blobs')
        .innerJoin('blobs', 'blobs.digest', 'repo_blobs.digest')
        .select('blobs.size')
        .where('repo_blobs.repo', '=', repo)
        .where('repo_blobs.digest', '=', digest)
        .executeTakeFirst();
      return row === undefined ? null : Number(row.size);
    },

    /** Size of a blob held anywhere in the store, or null. */
    async storedBlobSize(digest: Digest): Promise<number | null> {
      const row = await db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
      return row === undefined ? null : Number(row.size);
    },

    /** Removes a blob from one repository (its bytes go at the next garbage collection). */
    async unlinkBlob(repo: string, digest: Digest, actor: string): Promise<boolean> {
      return transaction(async (trx) => {
        const r = await trx
          .deleteFrom('repo_blobs')
          .where('repo', '=', repo)
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await appendEvent(trx, dialect, { kind: 'blob.delete', actor, at: now(), repo, digest });
        return true;
      });
    },

    /** Blobs no manifest references and nothing linked within the grace period: garbage-collection candidates. */
    async unreferencedBlobs(cutoff: Date): Promise<Digest[]> {
      const rows = await db
        .selectFrom('blobs')
        .select('digest')
        .where('last_linked_at', '<', cutoff.toISOString())
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('manifest_blobs').select('blob').whereRef('manifest_blobs.blob', '=', 'blobs.digest'))),
        )
        .execute();
      return rows.map((r) => r.digest as Digest);
    },

    /**
     * Deletes a blob's record (and its repository links) if it is still unreferenced and past the cutoff.
     * The RESTRICT foreign key from manifest_blobs makes a concurrent manifest push win on PostgreSQL.
     */
    async forgetBlob(digest: Digest, cutoff: Date): Promise<boolean> {
      try {
        const r = await db
          .deleteFrom('blobs')
          .where('digest', '=', digest)
          .where('last_linked_at', '<', cutoff.toISOString())
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(selectFrom('manifest_blobs').select('blob').whereRef('manifest_blobs.blob', '=', 'blobs.digest')),
            ),
          )
          .executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      } catch (err) {
        // Only the race with a manifest push means "keep it"; any other failure must surface.
        if (isForeignKeyViolation(err)) return false;
        throw err;
      }
    },

    async isKnownBlob(digest: Digest): Promise<boolean> {
      return (
        (await db.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst()) !== undefined
      );
    },
  };
}

const LINK_ROWS = 16;

function* chunked<T>(rows: readonly T[]): Generator<T[]> {
  for (let i = 0; i < rows.length; i += LINK_ROWS) yield rows.slice(i, i + LINK_ROWS);
}

// PostgreSQL SQLSTATE 23503, or SQLite's "FOREIGN KEY constraint failed".
function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '23503' || (typeof e.message === 'string' && e.message.includes('FOREIGN KEY constraint failed'));
}
