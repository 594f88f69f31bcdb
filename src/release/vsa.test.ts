import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Digest, digestOf } from '../core/index.ts';
import { generateKeyPair, loadSigner, PREDICATE_TYPES, parseStatement, verifyEnvelope } from '../trust/index.ts';
import { promotionLeaf, signVsa, stageLevel, vsaStatement } from './vsa.ts';

const image = digestOf('image') as Digest;
const input = {
  verifierId: 'https://fixity.local/verifier/0123456789abcdef',
  registryHost: 'localhost:7070',
  repository: 'acme/shop',
  digest: image,
  stage: 'pre-prod',
  timeVerified: new Date('2026-03-04T10:00:00.123Z'),
  pipelineVersion: 7,
  pipelineDigest: digestOf('pipeline') as Digest,
  policyDigest: digestOf('policy') as Digest,
  inputs: [digestOf('sbom') as Digest],
};

describe('vsa', () => {
  it('stageLevel() upper-cases the stage and turns - into _', () => {
    assert.equal(stageLevel('pre-prod'), 'FIXITY_STAGE_PRE_PROD');
  });

  it('vsaStatement() is a SLSA VSA v1 about the digest, naming the pinned policy and its inputs', () => {
    const statement = vsaStatement(input);
    assert.equal(statement.predicateType, PREDICATE_TYPES.vsa);
    assert.deepEqual(statement.subject, [{ name: 'localhost:7070/acme/shop', digest: { sha256: image.slice(7) } }]);
    assert.deepEqual(statement.predicate, {
      verifier: { id: input.verifierId },
      timeVerified: '2026-03-04T10:00:00Z',
      resourceUri: `oci://localhost:7070/acme/shop@${image}`,
      policy: {
        uri: 'fixity:pipeline/7#pre-prod',
        digest: { sha256: input.policyDigest.slice(7) },
        annotations: { pipelineDigest: input.pipelineDigest },
      },
      inputAttestations: [
        { uri: `oci://localhost:7070/acme/shop@${input.inputs[0]}`, digest: { sha256: input.inputs[0]!.slice(7) } },
      ],
      verificationResult: 'PASSED',
      verifiedLevels: ['FIXITY_STAGE_PRE_PROD'],
    });
  });

  it('signVsa() makes an in-toto DSSE envelope; promotionLeaf() is a dsse body naming the statement', async () => {
    const signer = loadSigner(generateKeyPair('p256').privateKeyPem);
    const { envelope, payload } = await signVsa(signer, vsaStatement(input));
    const bytes = verifyEnvelope(envelope, [signer.publicKey]);
    assert.equal(digestOf(bytes), payload);
    assert.equal(parseStatement(bytes).predicateType, PREDICATE_TYPES.vsa);
    const leaf = promotionLeaf({
      ...input,
      envelope,
      signer,
      promotionId: 'p1',
      actor: 'erin',
      time: input.timeVerified,
      trigger: 'manual',
      vsa: payload,
    }) as { kind: string; spec: { payloadHash: { value: string } }; vsa: string; digests: string[] };
    assert.equal(leaf.kind, 'dsse');
    assert.equal(`sha256:${leaf.spec.payloadHash.value}`, leaf.vsa);
    assert.deepEqual(leaf.digests, [image]);
  });
});
