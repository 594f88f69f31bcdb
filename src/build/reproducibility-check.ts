import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { extract } from 'tar-stream';
import { type Digest, digestOf, parseDigest } from '../core/index.ts';

const run = promisify(execFile);

/** One build of the pair, with the conditions it ran under. */
export interface CheckRun {
  dir: string;
  umask: string;
  locale: string;
  timezone: string;
  digest: Digest;
  layout: string;
}

export interface ReproducibilityReport {
  reproducible: boolean;
  runs: [CheckRun, CheckRun];
  /** Human-readable differences, most specific first (which layer, which file, which header field). */
  differences: string[];
}

/**
 * Builds the source twice from fresh copies at different paths, with a different umask, locale and time
 * zone and no cache, through the CLI (`cli` is argv to run `fixity`, `args` more flags for both builds, such as
 * the compression), and explains any difference.
 */
export async function checkReproducible(
  source: string,
  options: { cli: string[]; env?: NodeJS.ProcessEnv; args?: readonly string[] },
): Promise<ReproducibilityReport> {
  const work = await mkdtemp(join(tmpdir(), 'fixity-check-'));
  try {
    const conditions = [
      { path: join(work, 'a', 'src'), umask: '0022', locale: 'C.UTF-8', timezone: 'UTC' },
      {
        path: join(work, 'b', 'deeper', 'checkout-2', 'src'),
        umask: '0077',
        locale: 'tr_TR.UTF-8',
        timezone: 'Pacific/Chatham',
      },
    ];
    const runs: CheckRun[] = [];
    for (const [i, c] of conditions.entries()) {
      await mkdir(join(c.path, '..'), { recursive: true });
      await cp(source, c.path, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (p) => !p.includes('/node_modules/.cache/'),
      });
      const layout = join(work, `layout-${i}`);
      const script = `umask ${c.umask} && exec "$@"`;
      const { stdout } = await run(
        '/bin/sh',
        [
          ...['-c', script, 'sh', ...options.cli, 'build', c.path, ...(options.args ?? [])],
          ...['--no-cache', '--oci-layout', layout, '--json'],
        ],
        {
          env: {
            ...options.env,
            LC_ALL: c.locale,
            LANG: c.locale,
            TZ: c.timezone,
            XDG_CACHE_HOME: join(work, `cache-${i}`),
          },
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      const result = JSON.parse(stdout) as { digest: Digest };
      runs.push({ dir: c.path, umask: c.umask, locale: c.locale, timezone: c.timezone, digest: result.digest, layout });
    }
    const [a, b] = runs as [CheckRun, CheckRun];
    const differences = a.digest === b.digest ? [] : await explain(a, b);
    return { reproducible: a.digest === b.digest, runs: [a, b], differences };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const blobPath = (layout: string, digest: string) => {
  const { algorithm, hex } = parseDigest(digest);
  return join(layout, 'blobs', algorithm, hex);
};
const readJSON = async (layout: string, digest: string) => JSON.parse(await readFile(blobPath(layout, digest), 'utf8'));

async function explain(a: CheckRun, b: CheckRun): Promise<string[]> {
  const out: string[] = [];
  const ma = await readJSON(a.layout, a.digest);
  const mb = await readJSON(b.layout, b.digest);
  for (const key of new Set([...Object.keys(ma.annotations ?? {}), ...Object.keys(mb.annotations ?? {})])) {
    if (ma.annotations?.[key] !== mb.annotations?.[key])
      out.push(`manifest annotation ${key}: ${ma.annotations?.[key]} vs ${mb.annotations?.[key]}`);
  }
  if (ma.config.digest !== mb.config.digest) {
    const ca = await readJSON(a.layout, ma.config.digest);
    const cb = await readJSON(b.layout, mb.config.digest);
    for (const key of new Set([...Object.keys(ca), ...Object.keys(cb)])) {
      if (JSON.stringify(ca[key]) !== JSON.stringify(cb[key]) && key !== 'rootfs')
        out.push(`config ${key}: ${JSON.stringify(ca[key])} vs ${JSON.stringify(cb[key])}`);
    }
  }
  const la = ma.layers as Array<{ digest: string; mediaType: string }>;
  const lb = mb.layers as Array<{ digest: string; mediaType: string }>;
  if (la.length !== lb.length) out.push(`layer count: ${la.length} vs ${lb.length}`);
  for (let i = 0; i < Math.min(la.length, lb.length); i++) {
    if (la[i]!.digest === lb[i]!.digest) continue;
    const ea = await tarEntries(blobPath(a.layout, la[i]!.digest), la[i]!.mediaType);
    const eb = await tarEntries(blobPath(b.layout, lb[i]!.digest), lb[i]!.mediaType);
    const diffs: string[] = [];
    for (const name of new Set([...ea.keys(), ...eb.keys()])) {
      const x = ea.get(name);
      const y = eb.get(name);
      if (x === undefined || y === undefined) {
        diffs.push(`layer ${i}: ${name} only in the ${x === undefined ? 'second' : 'first'} build`);
        continue;
      }
      for (const field of Object.keys(x) as Array<keyof TarEntry>) {
        if (x[field] !== y[field])
          diffs.push(`layer ${i}: ${name}: ${field} ${String(x[field])} vs ${String(y[field])}`);
      }
    }
    if (diffs.length === 0)
      diffs.push(
        `layer ${i}: same files and headers, different compressed bytes (${la[i]!.digest} vs ${lb[i]!.digest})`,
      );
    out.push(...diffs);
  }
  return out;
}

interface TarEntry {
  index: number;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
  content: string;
}

async function tarEntries(path: string, mediaType: string): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const decompress = mediaType.endsWith('+gzip')
    ? createGunzip()
    : mediaType.endsWith('+zstd')
      ? createZstdDecompress()
      : null;
  const raw = createReadStream(path);
  const tar = extract();
  const input = decompress === null ? raw : raw.pipe(decompress);
  input.pipe(tar);
  let index = 0;
  for await (const entry of tar) {
    const chunks: Buffer[] = [];
    for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
    const h = entry.header;
    entries.set(h.name, {
      index: index++,
      type: h.type ?? 'file',
      mode: (h.mode ?? 0).toString(8),
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      uname: h.uname ?? '',
      gname: h.gname ?? '',
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
      size: h.size ?? 0,
      linkname: h.linkname ?? '',
      content: digestOf(Buffer.concat(chunks)),
    });
  }
  return entries;
}
