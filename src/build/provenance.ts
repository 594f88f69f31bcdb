import { canonicalJSON, digestOf } from '../core/index.ts';
import {
  createStatement,
  type InTotoStatement,
  type ResourceDescriptor,
  type StatementSubject,
  toDigestSet,
} from './in-toto-statement.ts';
import { SBOM_PREDICATE_TYPE } from './sbom.ts';
import type { SPDXDocument } from './spdx-document.ts';
import { toUTCSeconds } from './utc-seconds.ts';

export { toDSSEEnvelope } from './in-toto-statement.ts';

export const PROVENANCE_PREDICATE_TYPE = 'https://slsa.dev/provenance/v1';
/** The buildType Fixity owns: its externalParameters are `spec` and `source`, documented in the build docs. */
export const FIXITY_BUILD_TYPE = 'https://fixity.dev/build/v1';

export interface ProvenanceInput {
  subject: StatementSubject | readonly StatementSubject[];
  /** The parsed fixity.yaml: everything the user controls about the build. */
  spec: unknown;
  source: { repository: string | null; revision: string | null; path: string };
  /** Digest over the packaged file tree (paths, types, modes, contents). */
  sourceTreeDigest: string;
  /** The base image as pinned, or null for scratch. `name` is its reference, e.g. `docker.io/library/node:24`. */
  base: { name: string; digest: string } | null;
  builder: { id: string; version?: string | Record<string, string> };
  toolVersion: string;
  compression: string;
  /** Named only when not the compression's default. */
  compressionLevel?: number;
  sourceDateEpoch: number;
  /** Node and zlib versions decide the compressed bytes; default: this process's. */
  node?: string;
  zlib?: string;
  /** What the prepare step ran and under which sandbox, when there was one. */
  prepare?: Record<string, unknown> | null;
  layers: ReadonlyArray<{ digest: string; mediaType: string; size?: number; diffId?: string }>;
  /** Unique id of this run; default: derived from subject, builder and start time. */
  invocationId?: string;
  startedOn: string;
  finishedOn: string;
}

export interface SLSAProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: { spec: unknown; source: { repository?: string; revision?: string; path: string } };
    internalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
    byproducts: ResourceDescriptor[];
  };
}

/** An in-toto Statement v1 carrying SLSA Provenance v1 for a Fixity build. */
export function createProvenanceStatement(input: ProvenanceInput): InTotoStatement<SLSAProvenance> {
  const startedOn = toUTCSeconds(input.startedOn, 'the build start time');
  const finishedOn = toUTCSeconds(input.finishedOn, 'the build finish time');
  const { repository, revision, path } = input.source;
  const version = input.builder.version ?? input.toolVersion;
  const invocationId =
    input.invocationId ?? digestOf(canonicalJSON([input.subject, input.builder.id, startedOn])).slice(7, 39);
  const predicate: SLSAProvenance = {
    buildDefinition: {
      buildType: FIXITY_BUILD_TYPE,
      externalParameters: {
        spec: input.spec,
        source: { ...(repository ? { repository } : {}), ...(revision ? { revision } : {}), path },
      },
      internalParameters: {
        fixityVersion: input.toolVersion,
        node: input.node ?? process.versions.node,
        zlib: input.zlib ?? process.versions.zlib,
        compression: input.compression,
        ...(input.compressionLevel === undefined ? {} : { compressionLevel: input.compressionLevel }),
        sourceDateEpoch: input.sourceDateEpoch,
        ...(input.prepare ? { prepare: input.prepare } : {}),
      },
      resolvedDependencies: resolvedDependencies(input),
    },
    runDetails: {
      builder: { id: input.builder.id, version: typeof version === 'string' ? { fixity: version } : version },
      metadata: { invocationId, startedOn, finishedOn },
      byproducts: input.layers.map((layer, index) => ({
        name: `layer-${index}`,
        digest: toDigestSet(layer.digest, `the digest of layer ${index}`),
        mediaType: layer.mediaType,
        ...(layer.diffId ? { annotations: { diffId: layer.diffId } } : {}),
      })),
    },
  };
  return createStatement(input.subject, PROVENANCE_PREDICATE_TYPE, predicate);
}

/** An in-toto Statement v1 whose predicate is the SPDX document. */
export function createSBOMStatement(
  subject: StatementSubject | readonly StatementSubject[],
  document: SPDXDocument,
): InTotoStatement<SPDXDocument> {
  return createStatement(subject, SBOM_PREDICATE_TYPE, document);
}

function resolvedDependencies(input: ProvenanceInput): ResourceDescriptor[] {
  const { repository, revision } = input.source;
  const dependencies: ResourceDescriptor[] = [];
  if (input.base !== null) {
    dependencies.push({
      name: input.base.name,
      uri: `oci://${repositoryOf(input.base.name)}@${input.base.digest}`,
      digest: toDigestSet(input.base.digest, 'the base image digest'),
    });
  }
  if (repository && revision) {
    // A commit names the whole repository; the tree digest below names exactly what was packaged.
    const uri = `${repository.startsWith('git+') ? '' : 'git+'}${repository}@${revision}`;
    dependencies.push({
      uri,
      ...(/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(revision) ? { digest: { gitCommit: revision } } : {}),
    });
  }
  dependencies.push({ name: 'source-tree', digest: toDigestSet(input.sourceTreeDigest, 'the source tree digest') });
  return dependencies;
}

// `registry/repo:tag` or `registry/repo@sha256:…` → `registry/repo`; a colon before the last `/` is a port.
function repositoryOf(reference: string): string {
  const withoutDigest = reference.split('@')[0]!;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}
