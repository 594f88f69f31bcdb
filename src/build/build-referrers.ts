/**
 * The evidence a build attaches to its image as OCI referrers: its SLSA provenance and its SBOM, each an
 * in-toto statement. Unsigned, each is a DSSE envelope; the SBOM's is streamed to a file, or reused from the
 * evidence cache when every input of it is unchanged. With an attestor (a builder key), each statement is
 * signed and its bundle is the referrer's layer.
 */
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, Digest } from '../core/index.ts';
import type { Attestor } from './build.ts';
import { createEvidenceCache } from './evidence-cache.ts';
import { createSBOMStatement, PROVENANCE_PREDICATE_TYPE } from './provenance.ts';
import { blobEvidence, fileEvidence, referrerArtifact, unsignedEvidence } from './referrer-evidence.ts';
import { createSPDXDocument, SBOM_PREDICATE_TYPE, type SBOMInput } from './sbom.ts';
import { createSBOMEvidence, type SBOMEvidenceTarget } from './sbom-evidence.ts';

export interface BuildReferrersOptions {
  subject: { name: string; digest: Digest };
  manifestSize: number;
  /** SOURCE_DATE_EPOCH: the referrers' `created`. */
  epoch: number;
  provenance: object;
  /** The SBOM's inputs, made only when the SBOM is (not when its envelope is reused). */
  sbomInput: () => Promise<SBOMInput>;
  attest?: Attestor | undefined;
  /** Unsigned: the evidence cache's directory and the SBOM envelope's key in it, or a directory of its own. */
  envelope: { cacheDir: string; key: () => unknown[]; clock: Clock } | { dir: string };
  /** Cache entries used are added here (kept when pruning); blobs opened, for the caller to close. */
  used: Set<string>;
  opened: FileHandle[];
}

/** The provenance and SBOM referrers, in that order, and the SBOM statement (read back when asked). */
export async function buildReferrers(
  options: BuildReferrersOptions,
): Promise<{ evidence: Array<ReturnType<typeof referrerArtifact>>; sbomStatement: () => object }> {
  const { subject, provenance, epoch } = options;
  const descriptor = { digest: subject.digest, size: options.manifestSize };
  if (options.attest === undefined) {
    let target: SBOMEvidenceTarget;
    if ('dir' in options.envelope) target = { kind: 'file', path: join(options.envelope.dir, 'envelope') };
    else {
      const store = createEvidenceCache(join(options.envelope.cacheDir, 'evidence'), { clock: options.envelope.clock });
      target = { kind: 'cache', store, key: await store.key(options.envelope.key()) };
      options.used.add(store.entry(target.key));
    }
    const sbom = await createSBOMEvidence({ subject, input: options.sbomInput, target });
    options.opened.push(sbom.blob.file);
    return {
      evidence: [
        referrerArtifact(unsignedEvidence(provenance, PROVENANCE_PREDICATE_TYPE), descriptor, epoch),
        referrerArtifact(fileEvidence(sbom.blob, SBOM_PREDICATE_TYPE), descriptor, epoch),
      ],
      sbomStatement: sbom.statement,
    };
  }
  const attest = options.attest;
  const statement = createSBOMStatement(subject, createSPDXDocument(await options.sbomInput()));
  const statements = [
    { statement: provenance, predicateType: PROVENANCE_PREDICATE_TYPE },
    { statement, predicateType: SBOM_PREDICATE_TYPE },
  ];
  const evidence = await Promise.all(
    statements.map(async (e) =>
      referrerArtifact(blobEvidence(await attest({ ...e, subject: descriptor })), descriptor, epoch),
    ),
  );
  return { evidence, sbomStatement: () => statement };
}
