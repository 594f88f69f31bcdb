import { createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { extract } from 'tar-stream';
import { checkpointVerifier, parseCheckpoint } from './checkpoint.ts';
import { PREVIOUS_PAX, PUBLIC_KEY_NAME } from './ledger-archive.ts';
import { LedgerError } from './ledger-error.ts';
import type { LedgerReport } from './ledger-report.ts';
import { leafHash } from './merkle.ts';
import { parseNote, verifyNote } from './note.ts';
import { decodeEntryBundle, parseTilePath, TILE_WIDTH } from './tiles.ts';
import { type AuditTile, createTreeAudit, type TreeAudit } from './tree-audit.ts';

const MAX_MEMBER = TILE_WIDTH * (2 + 0xffff); // the largest entry bundle

/**
 * Verifies an archive from `exportLedgerArchive` with nothing but the ledger's public key: recomputes the
 * tree from the entry bundles, compares every tile, checks every signed checkpoint and the latest one, and
 * names the first bad index. One pass over the file; memory stays flat whatever its size.
 */
export async function verifyLedgerArchive(
  file: string,
  publicKeyPem: string,
  options: { signal?: AbortSignal } = {},
): Promise<LedgerReport> {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(publicKeyPem);
  } catch (err) {
    throw new LedgerError('KEY_INVALID', 'Cannot verify the ledger archive: the public key is not a PEM key', {
      cause: err,
    });
  }
  let audit: TreeAudit | null = null;
  const early: Array<Parameters<TreeAudit['problem']>[0]> = [];
  const problem = (p: Parameters<TreeAudit['problem']>[0]) => (audit === null ? early.push(p) : audit.problem(p));
  // The origin is the key name in the notes; a wrong one cannot carry a valid signature.
  const auditFor = (note: string): TreeAudit => {
    if (audit === null) {
      let origin = 'unknown';
      try {
        origin = parseCheckpoint(parseNote(note).text).origin;
      } catch {}
      audit = createTreeAudit({ publicKey, origin });
      for (const p of early.splice(0)) audit.problem(p);
    }
    return audit;
  };
  let latest: { size: number; root: Buffer } | null = null;
  const storedL0 = new Map<number, AuditTile>();

  const tar = extract();
  createReadStream(file)
    .on('error', (err) => tar.destroy(err))
    .pipe(tar);
  for await (const member of tar) {
    options.signal?.throwIfAborted();
    const name = member.header.name;
    const data = await readMember(member);
    if (data === null) {
      problem({ kind: 'archive-invalid', message: `${name} is larger than any ledger member can be` });
      continue;
    }
    if (name === 'checkpoint') {
      const note = data.toString('utf8');
      const a = auditFor(note);
      try {
        const { origin } = parseCheckpoint(parseNote(note).text);
        latest = parseCheckpoint(verifyNote(note, [checkpointVerifier(publicKey, origin)]));
      } catch (err) {
        a.problem({
          kind: 'checkpoint-signature',
          message: `the archive's checkpoint does not verify: ${(err as Error).message}`,
        });
      }
    } else if (name === PUBLIC_KEY_NAME) {
      if (!sameKey(data, publicKey)) {
        problem({
          kind: 'archive-invalid',
          message: `${PUBLIC_KEY_NAME} in the archive is not the key given; verified with the key given`,
        });
      }
    } else if (/^checkpoints\/(0|[1-9]\d*)$/.test(name)) {
      const note = data.toString('utf8');
      const previous = (member.header.pax as Record<string, string> | null | undefined)?.[PREVIOUS_PAX];
      auditFor(note).checkpoint({
        size: Number(name.slice('checkpoints/'.length)),
        note,
        ...(previous === undefined ? {} : { previous: Number(previous) }),
      });
    } else {
      tileMember(name, data);
    }
  }
  const a = audit ?? createTreeAudit({ publicKey, origin: 'unknown' });
  for (const p of early) a.problem(p);
  for (const t of storedL0.values()) a.storedTile(t);
  a.closeTiles();
  const final = latest as { size: number; root: Buffer } | null;
  if (final === null) a.problem({ kind: 'checkpoint-missing', message: 'the archive has no valid checkpoint file' });
  else if (final.size > a.size) {
    a.problem({
      kind: 'leaf-missing',
      index: a.size,
      message: `the checkpoint signs ${final.size} leaves; the archive holds ${a.size}`,
    });
  } else if (final.size < a.size) {
    a.problem({
      kind: 'leaf-extra',
      index: final.size,
      message: `the archive holds ${a.size} leaves; its checkpoint signs ${final.size}`,
    });
  } else if (!final.root.equals(a.root())) {
    // checkpoints/<size> signed the leaves' root: the two signed checkpoints contradict each other.
    const forked = a.matched(final.size);
    a.problem({
      kind: forked ? 'fork' : 'checkpoint-root',
      size: final.size,
      message: forked
        ? `the checkpoint file and checkpoints/${final.size} sign different roots`
        : `the checkpoint's root is not the root of the archive's leaves`,
    });
  }
  return a.finish();

  function tileMember(name: string, data: Buffer): void {
    let path: ReturnType<typeof parseTilePath>;
    try {
      path = parseTilePath(name);
    } catch {
      problem({ kind: 'archive-invalid', message: `${name} is not a ledger archive member` });
      return;
    }
    const current = audit;
    if (current === null) {
      problem({ kind: 'archive-invalid', message: `${name} comes before any checkpoint` });
      return;
    }
    if (path.kind === 'tile') {
      const tile = { level: path.level, index: path.index, hashes: data, interior: null };
      if (data.length !== path.width * 32) {
        current.problem({
          kind: 'tile-altered',
          level: path.level,
          index: path.index * TILE_WIDTH ** (path.level + 1),
          message: `${name} holds ${data.length} bytes`,
        });
      }
      if (path.level === 0) storedL0.set(path.index, tile);
      else current.storedTile(tile);
      return;
    }
    let bodies: Array<Uint8Array | null>;
    try {
      bodies = decodeEntryBundle(data);
    } catch {
      bodies = [];
      current.problem({
        kind: 'archive-invalid',
        index: path.index * TILE_WIDTH,
        message: `${name} is not an entry bundle`,
      });
    }
    if (bodies.length > path.width) {
      current.problem({
        kind: 'leaf-extra',
        index: path.index * TILE_WIDTH + path.width,
        message: `${name} holds ${bodies.length} entries`,
      });
    }
    const hashes = Array.from({ length: path.width }, (_, j) => {
      const body = bodies[j];
      return body === null || body === undefined ? null : leafHash(body);
    });
    fillGap(current, path.index * TILE_WIDTH);
    const stored = storedL0.get(path.index) ?? null;
    storedL0.delete(path.index);
    current.leaves(path.index, hashes, stored);
  }

  // A bundle missing (or cut short) before this one: the leaves in between are missing, not shifted.
  function fillGap(current: TreeAudit, upTo: number): void {
    while (current.size < upTo) {
      const tile = Math.floor(current.size / TILE_WIDTH);
      const from = current.size % TILE_WIDTH;
      const stored = from === 0 ? (storedL0.get(tile) ?? null) : null;
      storedL0.delete(tile);
      current.leaves(tile, new Array(Math.min(TILE_WIDTH - from, upTo - current.size)).fill(null), stored, from);
    }
  }
}

async function readMember(stream: AsyncIterable<unknown>): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of stream) {
    const chunk = c as Buffer;
    total += chunk.length;
    if (total <= MAX_MEMBER) chunks.push(chunk);
  }
  return total <= MAX_MEMBER ? Buffer.concat(chunks) : null;
}

function sameKey(pem: Buffer, key: KeyObject): boolean {
  try {
    const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
    return spki(createPublicKey(pem.toString('utf8'))).equals(spki(key));
  } catch {
    return false;
  }
}
