import { canonicalBytes, type Digest, digestOf, parseDigest, type Signer } from '../core/index.ts';
import {
  createStatement,
  dsseBody,
  type Envelope,
  IN_TOTO_PAYLOAD_TYPE,
  PREDICATE_TYPES,
  type Statement,
  signEnvelope,
} from '../trust/index.ts';

/** What a promotion's Verification Summary Attestation states. */
export interface VsaInput {
  readonly verifierId: string;
  readonly registryHost: string;
  readonly repository: string;
  readonly digest: Digest;
  readonly stage: string;
  readonly timeVerified: Date;
  readonly pipelineVersion: number;
  readonly pipelineDigest: Digest;
  readonly policyDigest: Digest;
  /** The referrers (signature and attestation bundles) whose evidence the gates saw. */
  readonly inputs: readonly Digest[];
}

const hexOf = (digest: Digest) => parseDigest(digest).hex;
const rfc3339 = (at: Date) => at.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `FIXITY_STAGE_<STAGE>`: the level a promotion verifies (stage names are lowercase letters, digits and -). */
export function stageLevel(stage: string): string {
  return `FIXITY_STAGE_${stage.toUpperCase().replaceAll('-', '_')}`;
}

/** A SLSA VSA v1 statement about the promoted digest: this verifier, the pinned policy, its inputs, PASSED. */
export function vsaStatement(input: VsaInput): Statement {
  const resource = `oci://${input.registryHost}/${input.repository}`;
  return createStatement(
    { name: `${input.registryHost}/${input.repository}`, digest: input.digest },
    PREDICATE_TYPES.vsa,
    {
      verifier: { id: input.verifierId },
      timeVerified: rfc3339(input.timeVerified),
      resourceUri: `${resource}@${input.digest}`,
      policy: {
        uri: `fixity:pipeline/${input.pipelineVersion}#${input.stage}`,
        digest: { sha256: hexOf(input.policyDigest) },
        annotations: { pipelineDigest: input.pipelineDigest },
      },
      inputAttestations: input.inputs.map((d) => ({ uri: `${resource}@${d}`, digest: { sha256: hexOf(d) } })),
      verificationResult: 'PASSED',
      verifiedLevels: [stageLevel(input.stage)],
    },
  );
}

/** Signs the statement as a DSSE envelope (in-toto payload type) with the server's key. */
export async function signVsa(signer: Signer, statement: Statement): Promise<{ envelope: Envelope; payload: Digest }> {
  const payload = canonicalBytes(statement);
  return { envelope: await signEnvelope(signer, IN_TOTO_PAYLOAD_TYPE, payload), payload: digestOf(payload) };
}

/** The promotion's ledger leaf: a Rekor dsse 0.0.1 body for the VSA envelope, plus what was promoted by whom. */
export function promotionLeaf(input: {
  envelope: Envelope;
  signer: Signer;
  promotionId: string;
  actor: string;
  time: Date;
  repository: string;
  digest: Digest;
  stage: string;
  trigger: 'manual' | 'auto';
  pipelineVersion: number;
  pipelineDigest: Digest;
  policyDigest: Digest;
  /** sha256 of the VSA statement (the envelope payload). */
  vsa: Digest;
  /** Why a person promoted; the leaf carries it only when there is one. */
  reason?: string | null;
}): object {
  const publicKeyPem = input.signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    ...dsseBody({ envelope: input.envelope, publicKeyPem }),
    event: 'promotion',
    actor: input.actor,
    time: input.time.toISOString(),
    digests: [input.digest],
    repository: input.repository,
    stage: input.stage,
    trigger: input.trigger,
    pipelineVersion: input.pipelineVersion,
    pipelineDigest: input.pipelineDigest,
    policyDigest: input.policyDigest,
    promotion: input.promotionId,
    vsa: input.vsa,
    ...(input.reason ? { reason: input.reason } : {}),
    keyId: input.signer.keyId,
  };
}
