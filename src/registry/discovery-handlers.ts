import { MEDIA_TYPES } from '../oci/index.ts';
import type { RegistryOptions, RequestContext } from './context.ts';
import { toDigest } from './names.ts';
import { RegistryError } from './registry-error.ts';

const MAX_PAGE = 10_000;

// `n` is optional; absent means everything (capped so one request stays bounded).
function pageSize(query: URLSearchParams): number | undefined {
  const n = query.get('n');
  if (n === null) return undefined;
  if (!/^\d+$/.test(n))
    throw new RegistryError(
      'PAGINATION_NUMBER_INVALID',
      `Cannot page by n="${n.slice(0, 20)}": use a non-negative integer`,
    );
  return Math.min(Number(n), MAX_PAGE);
}

function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/** GET /v2/<name>/tags/list?n=&last= in lexical order, with a Link header when more remain. */
export async function handleTags({ req, reply, query, method }: RequestContext, deps: RegistryOptions, name: string) {
  if (method !== 'GET' && method !== 'HEAD') throw new RegistryError('UNSUPPORTED', `Cannot ${method} the tag list`);
  await deps.authorize(req, name, ['pull']);
  const n = pageSize(query);
  const last = query.get('last') ?? undefined;
  if (n === 0) return reply.code(200).type('application/json').send({ name, tags: [] });
  const page = await deps.metadata.listTags(name, {
    ...(n === undefined ? {} : { n }),
    ...(last === undefined ? {} : { last }),
  });
  if (page === null)
    throw new RegistryError('NAME_UNKNOWN', `Cannot list tags of "${name}": the repository does not exist`, {
      detail: { name },
    });
  if (page.more && n !== undefined) reply.header('Link', nextLink(`/v2/${name}/tags/list`, n, page.tags.at(-1)!));
  return reply.code(200).type('application/json').send({ name, tags: page.tags });
}

/** GET /v2/<name>/referrers/<digest>[?artifactType=]: an image index of the manifests whose subject it is. */
export async function handleReferrers(
  { req, reply, query, method }: RequestContext,
  deps: RegistryOptions,
  name: string,
  ref: string,
) {
  if (method !== 'GET' && method !== 'HEAD') throw new RegistryError('UNSUPPORTED', `Cannot ${method} referrers`);
  await deps.authorize(req, name, ['pull']);
  const digest = toDigest(ref);
  const artifactType = query.get('artifactType') ?? undefined;
  const referrers = await deps.metadata.listReferrers(name, digest, artifactType);
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
  const body = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.imageIndex,
    manifests: referrers.map((r) => ({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType === null ? {} : { artifactType: r.artifactType }),
      ...(r.annotations === null ? {} : { annotations: r.annotations }),
    })),
  };
  // A Buffer, not a string: Fastify appends `; charset=utf-8` to string bodies of JSON types, and clients
  // (and the conformance suite) compare this Content-Type exactly.
  return reply
    .code(200)
    .type(MEDIA_TYPES.imageIndex)
    .send(Buffer.from(JSON.stringify(body)));
}

/** GET /v2/_catalog?n=&last=: the repositories this caller may pull. */
export async function handleCatalog({ req, reply, query }: RequestContext, deps: RegistryOptions) {
  const principal = await deps.authorize(req, null, []);
  const n = pageSize(query);
  const last = query.get('last') ?? undefined;
  if (n === 0) return reply.code(200).send({ repositories: [] });
  const visible: string[] = [];
  let cursor = last;
  // Filter page by page so `n` counts visible repositories only.
  for (;;) {
    const page = await deps.metadata.listRepositories({ n: 500, ...(cursor === undefined ? {} : { last: cursor }) });
    for (const repo of page.repositories) if (principal.can(repo, 'pull')) visible.push(repo);
    cursor = page.repositories.at(-1);
    if (!page.more || (n !== undefined && visible.length > n)) break;
  }
  const more = n !== undefined && visible.length > n;
  const repositories = n === undefined ? visible : visible.slice(0, n);
  if (more && n !== undefined) reply.header('Link', nextLink('/v2/_catalog', n, repositories.at(-1)!));
  return reply.code(200).send({ repositories });
}
