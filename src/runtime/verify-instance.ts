import { randomBytes } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { DriverContext } from './driver-context.ts';
import { type InstanceRecord, sameArgv } from './instance-store.ts';
import { readCmdline } from './process-table.ts';
import { diffManifest, scanRoot } from './root-manifest.ts';
import type { DriftFinding, DriftReport } from './types.ts';

/**
 * Drift checks for `verify`: the root's files against the manifest made at unpack, the process against the
 * command it was started with, and `instance.json` against the config digest in memory. A tampered root is
 * moved aside so that the next start unpacks a fresh one.
 */

/** What has drifted for instance `id`, moving its root aside when files changed. */
export async function verifyInstance(
  ctx: Pick<DriverContext, 'logger' | 'clock' | 'unpacker' | 'instances' | 'get' | 'persist' | 'dirOf'>,
  id: string,
): Promise<DriftReport> {
  const { unpacker } = ctx;
  const live = ctx.get(id);
  const r = live.record;
  const findings: DriftFinding[] = [];
  const current = unpacker.paths(r.image);
  const dir = r.rootDir ?? current.dir;
  const meta = r.rootMeta ?? current.meta;
  const expected = JSON.parse(await readFile(meta, 'utf8')).manifest;
  const files = diffManifest(expected, await scanRoot(dir));
  findings.push(...files);
  if (files.length > 0 && dir === current.dir) {
    // Replace, never patch: a tampered root is moved aside (kept for forensics with the instances on
    // it) so the next start unpacks a fresh one from the verified layers.
    const aside = `${current.dir}.tainted-${randomBytes(4).toString('hex')}`;
    await rename(current.dir, aside);
    await rename(current.meta, `${aside}.json`);
    for (const other of ctx.instances.values()) {
      if ((other.record.rootDir ?? unpacker.paths(other.record.image).dir) !== current.dir) continue;
      other.record.rootDir = aside;
      other.record.rootMeta = `${aside}.json`;
      ctx.persist(other);
    }
    ctx.logger.warn({ image: r.image, aside }, 'root changed on disk: moved aside, the next start unpacks it again');
  }
  const command = r.argv.join(' ');
  if (r.status.state !== 'stopped' && r.status.state !== 'quarantined') {
    const actual = r.status.pid === null ? null : await readCmdline(r.status.pid);
    if (actual === null) findings.push({ kind: 'process-gone', subject: command, expected: 'running', actual: null });
    else if (!sameArgv(actual, r.argv)) {
      findings.push({ kind: 'process-mismatch', subject: command, expected: command, actual: actual.join(' ') });
    }
  }
  const onDisk = await readFile(join(ctx.dirOf(id), 'instance.json'), 'utf8')
    .then((text) => (JSON.parse(text) as InstanceRecord).configDigest as string)
    .catch(() => null);
  if (onDisk !== r.configDigest) {
    findings.push({ kind: 'config-changed', subject: 'configDigest', expected: r.configDigest, actual: onDisk });
  }
  return { instance: id, checkedAt: ctx.clock.now().toISOString(), findings } satisfies DriftReport;
}
