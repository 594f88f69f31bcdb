import { type Expression, sql } from 'kysely';
import type { Clock, Digest } from '../core/index.ts';
import type { Executor, StoreDatabase } from './database.ts';
import { appendEvent } from './events.ts';
import { createGroupCommit } from './group-commit.ts';
import { StoreError } from './store-error.ts';

export interface ManifestRecord {
  repo: string;
  digest: Digest;
  mediaType: string;
  size: number;
  content: Uint8Array;
}

export interface ReferrerRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

export interface PutManifestInput {
  repo: string;
  digest: Digest;
  mediaType: string;
  content: Uint8Array;
  artifactType: string | null;
  subject: Digest | null;
  annotations: Record<string, string> | null;
  /** Blobs the manifest references (config, layers); each must already be in the repository. */
  blobs: readonly Digest[];
  /** Manifests an index references; each must already be in the repository. */
  children: readonly Digest[];
  tags: readonly string[];
  actor: string;
}

export interface TagChange {
  tag: string;
  previous: Digest | null;
}

/** Decides whether a tag in a repository may never move once set. */
export type TagProtection = (repo: string, tag: string) => boolean;

/** Registry metadata: repositories, blob links, manifests, tags, referrers; every change is also an event. */
export function createRegistryMetadata(store: StoreDatabase, options: { clock: Clock; isImmutable: TagProtection }) {
  const { db, dialect } = store;
  const { clock, isImmutable } = options;
  const now = () => clock.now().toISOString();
  // Tag order is bytewise everywhere (the spec's "lexical"); PostgreSQL's default collation is not.
  const bytewise = (column: string) =>
    dialect === 'postgres' ? sql<string>`${sql.ref(column)} collate "C"` : sql<string>`${sql.ref(column)}`;
  // Every write is made durable before it is acknowledged (see StoreDatabase.durable).
  const transaction = async <T>(fn: (trx: Executor) => Promise<T>): Promise<T> => {
    const result = await db.transaction().execute(fn);
    await store.durable();
    return result;
  };

  const ensureRepository = (trx: Executor, repo: string, at: string) =>
    trx
      .insertInto('repositories')
      .values({ name: repo, created_at: at })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();

  const lockTag = (trx: Executor, repo: string, tag: string) => {
    const q = trx.selectFrom('tags').select('digest').where('repo', '=', repo).where('name', '=', tag);
    return (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
  };

  // Points `tag` at `digest`, refusing to move an immutable tag; returns the change or null when unchanged.
  async function setTag(trx: Executor, repo: string, tag: string, digest: Digest, actor: string, at: string) {
    const inserted = await trx
      .insertInto('tags')
      .values({ repo, name: tag, digest, updated_at: at })
      .onConflict((oc) => oc.columns(['repo', 'name']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      await appendEvent(trx, dialect, { kind: 'tag.create', actor, at, repo, digest, tag });
      return { tag, previous: null };
    }
    const current = await lockTag(trx, repo, tag);
    const previous = (current?.digest ?? null) as Digest | null;
    if (previous === digest) return null;
    if (isImmutable(repo, tag)) {
      throw new StoreError(
        'TAG_IMMUTABLE',
        `Cannot move tag "${repo}:${tag}": it is immutable and points at ${previous}`,
      );
    }
    await trx
      .updateTable('tags')
      .set({ digest, updated_at: at })
      .where('repo', '=', repo)
      .where('name', '=', tag)
      .execute();
    await appendEvent(trx, dialect, { kind: 'tag.move', actor, at, repo, digest, tag, previous });
    return { tag, previous };
  }

  async function missing(trx: Executor, table: 'repo_blobs' | 'manifests', repo: string, digests: readonly Digest[]) {
    if (digests.length === 0) return [];
    const found = new Set<string>();
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += 500) {
      const batch = unique.slice(i, i + 500);
      const rows = await trx
        .selectFrom(table)
        .select('digest')
        .where('repo', '=', repo)
        .where('digest', 'in', batch)
        .execute();
      for (const r of rows) found.add(r.digest);
    }
    return unique.filter((d) => !found.has(d));
  }

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

    /** Stores a manifest and its tags atomically, with one event per change. */
    async putManifest(input: PutManifestInput): Promise<{ created: boolean; tags: TagChange[] }> {
      const at = now();
      return transaction(async (trx) => {
        await ensureRepository(trx, input.repo, at);
        const absentBlobs = await missing(trx, 'repo_blobs', input.repo, input.blobs);
        if (absentBlobs.length > 0) {
          throw new StoreError(
            'MANIFEST_BLOB_UNKNOWN',
            `Cannot store manifest: blob ${absentBlobs[0]} is not in "${input.repo}"`,
            {
              detail: { missing: absentBlobs },
            },
          );
        }
        const absentChildren = await missing(trx, 'manifests', input.repo, input.children);
        if (absentChildren.length > 0) {
          throw new StoreError(
            'MANIFEST_BLOB_UNKNOWN',
            `Cannot store index: manifest ${absentChildren[0]} is not in "${input.repo}"`,
            {
              detail: { missing: absentChildren },
            },
          );
        }
        const inserted = await trx
          .insertInto('manifests')
          .values({
            repo: input.repo,
            digest: input.digest,
            media_type: input.mediaType,
            artifact_type: input.artifactType,
            subject: input.subject,
            annotations: input.annotations === null ? null : JSON.stringify(input.annotations),
            size: input.content.byteLength,
            content: input.content,
            created_at: at,
          })
          .onConflict((oc) => oc.columns(['repo', 'digest']).doNothing())
          .executeTakeFirst();
        const created = Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
        if (created) {
          const blobs = [...new Set(input.blobs)].map((blob) => ({ repo: input.repo, manifest: input.digest, blob }));
          const children = [...new Set(input.children)].map((child) => ({
            repo: input.repo,
            manifest: input.digest,
            child,
          }));
          for (let i = 0; i < blobs.length; i += 500)
            await trx
              .insertInto('manifest_blobs')
              .values(blobs.slice(i, i + 500))
              .execute();
          for (let i = 0; i < children.length; i += 500) {
            await trx
              .insertInto('manifest_children')
              .values(children.slice(i, i + 500))
              .execute();
          }
          await appendEvent(trx, dialect, {
            kind: 'manifest.push',
            actor: input.actor,
            at,
            repo: input.repo,
            digest: input.digest,
            detail: {
              mediaType: input.mediaType,
              size: input.content.byteLength,
              ...(input.subject ? { subject: input.subject } : {}),
            },
          });
        }
        const tags: TagChange[] = [];
        for (const tag of input.tags) {
          const change = await setTag(trx, input.repo, tag, input.digest, input.actor, at);
          if (change !== null) tags.push(change);
        }
        return { created, tags };
      });
    },

    /** A manifest by digest or tag, or null. */
    async getManifest(repo: string, reference: { digest: Digest } | { tag: string }): Promise<ManifestRecord | null> {
      let q = db
        .selectFrom('manifests')
        .select(['manifests.digest', 'media_type', 'size', 'content'])
        .where('manifests.repo', '=', repo);
      q =
        'digest' in reference
          ? q.where('manifests.digest', '=', reference.digest)
          : q
              .innerJoin('tags', (j) =>
                j.onRef('tags.repo', '=', 'manifests.repo').onRef('tags.digest', '=', 'manifests.digest'),
              )
              .where('tags.name', '=', reference.tag);
      const row = await q.executeTakeFirst();
      if (row === undefined) return null;
      return {
        repo,
        digest: row.digest as Digest,
        mediaType: row.media_type,
        size: Number(row.size),
        content: toBytes(row.content),
      };
    },

    /** Deletes a manifest and the tags pointing at it; refuses while an immutable tag points at it. */
    async deleteManifest(repo: string, digest: Digest, actor: string): Promise<boolean> {
      return transaction(async (trx) => {
        const tags = await trx
          .selectFrom('tags')
          .select('name')
          .where('repo', '=', repo)
          .where('digest', '=', digest)
          .execute();
        const locked = tags.find((t) => isImmutable(repo, t.name));
        if (locked !== undefined) {
          throw new StoreError(
            'TAG_IMMUTABLE',
            `Cannot delete manifest ${digest}: immutable tag "${locked.name}" points at it`,
          );
        }
        const at = now();
        for (const t of tags) {
          await trx.deleteFrom('tags').where('repo', '=', repo).where('name', '=', t.name).execute();
          await appendEvent(trx, dialect, { kind: 'tag.delete', actor, at, repo, tag: t.name, previous: digest });
        }
        const r = await trx
          .deleteFrom('manifests')
          .where('repo', '=', repo)
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await appendEvent(trx, dialect, { kind: 'manifest.delete', actor, at, repo, digest });
        return true;
      });
    },

    /** Deletes a tag only (the manifest stays); refuses for immutable tags. */
    async deleteTag(repo: string, tag: string, actor: string): Promise<boolean> {
      return transaction(async (trx) => {
        const current = await lockTag(trx, repo, tag);
        if (current === undefined) return false;
        if (isImmutable(repo, tag)) {
          throw new StoreError('TAG_IMMUTABLE', `Cannot delete tag "${repo}:${tag}": it is immutable`);
        }
        await trx.deleteFrom('tags').where('repo', '=', repo).where('name', '=', tag).execute();
        await appendEvent(trx, dialect, { kind: 'tag.delete', actor, at: now(), repo, tag, previous: current.digest });
        return true;
      });
    },

    /** Tags in bytewise order after `last`, at most `n`; null when the repository does not exist. */
    async listTags(
      repo: string,
      options: { n?: number; last?: string } = {},
    ): Promise<{ tags: string[]; more: boolean } | null> {
      const exists = await db.selectFrom('repositories').select('name').where('name', '=', repo).executeTakeFirst();
      if (exists === undefined) return null;
      let q = db.selectFrom('tags').select('name').where('repo', '=', repo).orderBy(bytewise('name'));
      if (options.last !== undefined) q = q.where(bytewise('name') as Expression<string>, '>', options.last);
      if (options.n !== undefined) q = q.limit(options.n + 1);
      const rows = await q.execute();
      const more = options.n !== undefined && rows.length > options.n;
      return { tags: rows.slice(0, options.n ?? rows.length).map((r) => r.name), more };
    },

    /** Repository names in bytewise order after `last`, at most `n`. */
    async listRepositories(
      options: { n?: number; last?: string } = {},
    ): Promise<{ repositories: string[]; more: boolean }> {
      let q = db.selectFrom('repositories').select('name').orderBy(bytewise('name'));
      if (options.last !== undefined) q = q.where(bytewise('name') as Expression<string>, '>', options.last);
      if (options.n !== undefined) q = q.limit(options.n + 1);
      const rows = await q.execute();
      const more = options.n !== undefined && rows.length > options.n;
      return { repositories: rows.slice(0, options.n ?? rows.length).map((r) => r.name), more };
    },

    /** Manifests in `repo` whose subject is `digest`, optionally of one artifact type. */
    async listReferrers(repo: string, digest: Digest, artifactType?: string): Promise<ReferrerRecord[]> {
      let q = db
        .selectFrom('manifests')
        .select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
        .where('repo', '=', repo)
        .where('subject', '=', digest);
      if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
      const rows = await q.orderBy('created_at').orderBy('digest').execute();
      return rows.map((r) => ({
        digest: r.digest as Digest,
        mediaType: r.media_type,
        size: Number(r.size),
        artifactType: r.artifact_type,
        annotations: r.annotations === null ? null : (JSON.parse(r.annotations) as Record<string, string>),
      }));
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

    /** Totals for metrics and status pages. */
    async counts(): Promise<{
      repositories: number;
      manifests: number;
      blobs: number;
      blobBytes: number;
      tags: number;
    }> {
      const one = async (table: 'repositories' | 'manifests' | 'tags') =>
        Number(
          (
            await db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const blobs = await db
        .selectFrom('blobs')
        .select((eb) => [
          eb.fn.countAll<number>().as('n'),
          eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('bytes'),
        ])
        .executeTakeFirstOrThrow();
      return {
        repositories: await one('repositories'),
        manifests: await one('manifests'),
        tags: await one('tags'),
        blobs: Number(blobs.n),
        blobBytes: Number(blobs.bytes),
      };
    },
  };
}

export type RegistryMetadata = ReturnType<typeof createRegistryMetadata>;

const LINK_ROWS = 16;

function* chunked<T>(rows: readonly T[]): Generator<T[]> {
  for (let i = 0; i < rows.length; i += LINK_ROWS) yield rows.slice(i, i + LINK_ROWS);
}

function toBytes(value: Uint8Array): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBufferLike);
}

// PostgreSQL SQLSTATE 23503, or SQLite's "FOREIGN KEY constraint failed".
function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '23503' || (typeof e.message === 'string' && e.message.includes('FOREIGN KEY constraint failed'));
}
