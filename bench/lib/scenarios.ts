/** The benchmark scenarios, each run with the same client code against any registry. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { RegistryClient } from './client.ts';
import { imageManifest, OCI_MANIFEST, sha256Digest } from './client.ts';
import { restampFile, syncDisks } from './machine.ts';
import { type PhaseUsage, watchProcess } from './proc.ts';
import { mbPerSecond, percentile, runPool } from './stats.ts';

export interface Target {
  name: 'fixity' | 'peer';
  /** Server process watched for RSS and CPU while a phase runs. */
  pid: number;
  client: RegistryClient;
}

/** Runs one measured phase while watching the server process; stops the watcher on failure too. */
async function watched<T>(pid: number, phase: () => Promise<T>): Promise<T & { usage: PhaseUsage }> {
  const watcher = watchProcess(pid);
  try {
    const result = await phase();
    return { ...result, usage: await watcher.stop() };
  } finally {
    await watcher.stop();
  }
}

/** Pushes one big blob streamed from `file` (restamped first, so its content is new to every server). */
export async function bigPush(target: Target, repo: string, file: string, size: number) {
  const digest = await restampFile(file);
  syncDisks();
  return watched(target.pid, async () => {
    const t0 = performance.now();
    await target.client.pushBlob(repo, digest, { kind: 'file', path: file, size });
    return { digest, mbs: mbPerSecond(size, performance.now() - t0) };
  });
}

/**
 * Pulls a big blob with curl, written to /dev/null: status and length checked, timed by curl itself
 * (`time_total`, from connecting to the last byte, without curl's own start-up). The content was checked
 * by `bigPull` just before. The token travels on curl's stdin (`-K -`), never on its command line.
 */
export async function curlPull(target: Target, repo: string, digest: string, size: number) {
  syncDisks();
  const url = new URL(`/v2/${repo}/blobs/${digest}`, target.client.baseUrl).href;
  const config = [
    `url = "${url}"`,
    'output = "/dev/null"',
    'silent',
    'show-error',
    'write-out = "%{http_code} %{size_download} %{time_total}"',
    ...(target.client.authorization === undefined ? [] : [`header = "Authorization: ${target.client.authorization}"`]),
  ].join('\n');
  return watched(target.pid, async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile('curl', ['-K', '-'], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin?.end(`${config}\n`);
    });
    const [status, bytes, seconds] = out.trim().split(' ');
    if (status !== '200' || Number(bytes) !== size) {
      throw new Error(`curl GET ${url} answered ${status} with ${bytes} bytes, expected 200 with ${size}`);
    }
    return { mbs: mbPerSecond(size, Number(seconds) * 1000) };
  });
}

/** Pulls a big blob: streamed, hashed (digest and length checked) and discarded. */
export async function bigPull(target: Target, repo: string, digest: string, size: number) {
  syncDisks();
  return watched(target.pid, async () => {
    const t0 = performance.now();
    await target.client.pullBlob(repo, digest, size);
    return { mbs: mbPerSecond(size, performance.now() - t0) };
  });
}

export interface LatencyResult {
  perSecond: number;
  p50: number;
  p99: number;
  usage: PhaseUsage;
}

/** `blobs.length` distinct small blobs, each POST + monolithic PUT, at the given concurrency. */
export async function smallPushes(
  target: Target,
  repo: string,
  blobs: readonly Buffer[],
  concurrency: number,
): Promise<LatencyResult> {
  const digests = blobs.map((b) => sha256Digest(b));
  syncDisks();
  return watched(target.pid, async () => {
    const { latencies, elapsedMs } = await runPool(blobs.length, concurrency, async (i) => {
      await target.client.pushBlob(repo, digests[i]!, { kind: 'bytes', bytes: blobs[i]! });
    });
    return {
      perSecond: blobs.length / (elapsedMs / 1000),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  });
}

export function randomBlobs(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(size));
}

/** Pushes a config blob, a layer and an OCI image manifest (tagged `bench`); returns the manifest. */
export async function pushImage(client: RegistryClient, repo: string): Promise<{ digest: string; bytes: Buffer }> {
  const layer = randomBytes(2048);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] },
    }),
  );
  await client.pushBlob(repo, sha256Digest(config), { kind: 'bytes', bytes: config });
  await client.pushBlob(repo, sha256Digest(layer), { kind: 'bytes', bytes: layer });
  const manifest = imageManifest(config, layer);
  await client.putManifest(repo, 'bench', manifest, OCI_MANIFEST);
  return { digest: sha256Digest(manifest), bytes: manifest };
}

/** `count` GETs of a manifest by digest (Accept: OCI manifest) at the given concurrency, after a warm-up. */
export async function manifestGets(
  client: RegistryClient,
  pid: number,
  repo: string,
  manifest: { digest: string; bytes: Buffer },
  count: number,
  concurrency: number,
): Promise<LatencyResult> {
  const get = async (): Promise<void> => {
    const body = await client.getManifest(repo, manifest.digest, OCI_MANIFEST);
    if (body.length !== manifest.bytes.length) {
      throw new Error(
        `GET manifest ${manifest.digest} returned ${body.length} bytes, expected ${manifest.bytes.length}`,
      );
    }
  };
  const first = await client.getManifest(repo, manifest.digest, OCI_MANIFEST);
  if (sha256Digest(first) !== manifest.digest) {
    throw new Error(`GET manifest ${manifest.digest} returned different bytes (digest ${sha256Digest(first)})`);
  }
  await runPool(Math.min(1000, count), concurrency, get);
  return watched(pid, async () => {
    const { latencies, elapsedMs } = await runPool(count, concurrency, get);
    return { perSecond: count / (elapsedMs / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  });
}
