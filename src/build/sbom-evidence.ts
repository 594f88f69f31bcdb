/**
 * The unsigned SBOM evidence of a build: its DSSE envelope written to a file as a stream (sbom-envelope.ts),
 * or taken from the evidence cache when the same inputs made it before. The statement itself is built only
 * when someone asks for it, from the rows already planned or else from the envelope file.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { EvidenceBlob, EvidenceCache } from './evidence-cache.ts';
import type { InTotoStatement, StatementSubject } from './in-toto-statement.ts';
import { createSBOMStatement } from './provenance.ts';
import { expandSPDXPlan, planSPDXDocument, type SBOMInput, type SPDXPlan } from './sbom.ts';
import { writeSBOMEnvelope } from './sbom-envelope.ts';
import type { SPDXDocument } from './spdx-document.ts';

export interface SBOMEvidence {
  /** The envelope, its file open; the caller closes it. */
  blob: EvidenceBlob;
  /**
   * The in-toto statement the envelope carries, built on demand (tens of MB for a large image). A cached
   * envelope is read back by its path, so ask before the build's cache entry can be pruned.
   */
  statement(): InTotoStatement<SPDXDocument>;
}

/** Where the envelope goes: into the evidence cache under `key` (reused when there), or to a file. */
export type SBOMEvidenceTarget = { kind: 'cache'; store: EvidenceCache; key: string } | { kind: 'file'; path: string };

/** The SBOM envelope for `subject`, from the cache when there, else written from `input()`. */
export async function createSBOMEvidence(options: {
  subject: StatementSubject;
  input: () => Promise<SBOMInput>;
  target: SBOMEvidenceTarget;
}): Promise<SBOMEvidence> {
  const { subject, target } = options;
  const hit = target.kind === 'cache' ? await target.store.get(target.key) : null;
  if (hit !== null) return { blob: hit, statement: () => readStatement(hit.path) };
  const plan = planSPDXDocument(await options.input());
  const write = async (path: string) => writeEnvelopeFile(path, plan, subject);
  let blob: EvidenceBlob;
  switch (target.kind) {
    case 'cache':
      blob = await target.store.put(target.key, write);
      break;
    case 'file':
      blob = { ...(await write(target.path)), path: target.path, file: await open(target.path, 'r') };
      break;
  }
  return { blob, statement: () => createSBOMStatement(subject, expandSPDXPlan(plan)) };
}

function writeEnvelopeFile(path: string, plan: SPDXPlan, subject: StatementSubject) {
  const fd = openSync(path, 'w');
  try {
    return writeSBOMEnvelope(plan, subject, (chunk) => {
      for (let at = 0; at < chunk.byteLength; ) at += writeSync(fd, chunk, at);
    });
  } finally {
    closeSync(fd);
  }
}

function readStatement(path: string): InTotoStatement<SPDXDocument> {
  const envelope = JSON.parse(readFileSync(path, 'utf8')) as { payload: string };
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as InTotoStatement<SPDXDocument>;
}
