// Read-only listings: tags and repositories a page at a time, the referrers of a manifest, and totals for
// metrics. None of them writes, so they read through the plain handle and take no transaction.
import { type Expression, sql } from 'kysely';
import type { Digest } from '../core/index.ts';
import type { RegistryContext } from './registry-context.ts';

export interface ReferrerRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/** An image a digest prefix matched (see findManifests). */
export interface ManifestMatch {
  repository: string;
  digest: Digest;
  mediaType: string;
  createdAt: string;
  tags: string[];
}

export function createRegistryListings(ctx: RegistryContext) {
  const { db, bytewise } = ctx;

  return {
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

    /**
     * Images (manifests that are not referrers) whose digest starts with `prefix` (`sha256:` and 4 to 64 hex
     * digits; null: any), in any repository, newest first, at most `limit`, each with up to 5 of its tags:
     * what a digest prefix, as git takes a commit prefix, can mean, or the images pushed last.
     */
    async findManifests(prefix: string | null, limit: number): Promise<ManifestMatch[]> {
      if (prefix !== null && !/^sha256:[0-9a-f]{4,64}$/.test(prefix))
        throw new Error(`findManifests: not a digest prefix: ${prefix}`);
      let q = db
        .selectFrom('manifests')
        .select(['repo', 'digest', 'media_type', 'created_at'])
        .where('subject', 'is', null);
      if (prefix !== null) q = q.where('digest', 'like', `${prefix}%`);
      const rows = await q.orderBy('created_at', 'desc').orderBy('repo').limit(limit).execute();
      return Promise.all(
        rows.map(async (r) => ({
          repository: r.repo,
          digest: r.digest as Digest,
          mediaType: r.media_type,
          createdAt: r.created_at,
          tags: (
            await db
              .selectFrom('tags')
              .select('name')
              .where('repo', '=', r.repo)
              .where('digest', '=', r.digest)
              .orderBy(bytewise('name'))
              .limit(5)
              .execute()
          ).map((t) => t.name),
        })),
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
