// Manifests and tags: storing a manifest with its tags in one transaction, reading one back, and deleting
// either. Immutable tags are checked inside the same transaction as the change they would refuse.
import type { Digest } from '../core/index.ts';
import type { Executor } from './database.ts';
import { appendEvent } from './events.ts';
import type { RegistryContext } from './registry-context.ts';
import { StoreError } from './store-error.ts';

export interface ManifestRecord {
  repo: string;
  digest: Digest;
  mediaType: string;
  size: number;
  content: Uint8Array;
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

export function createManifestMetadata(ctx: RegistryContext) {
  const { db, dialect, isImmutable, now, transaction } = ctx;

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

  return {
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
  };
}

function toBytes(value: Uint8Array): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBufferLike);
}
