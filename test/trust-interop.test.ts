// Interop: bundles Fixity writes verify with the stock sigstore-js verifier (@sigstore/verify), given only the
// public key as trust material, and with a tlog entry from a log of our own (the shape the ledger issues).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { canonicalBytes, digestOf, type Signer } from '../src/core/index.ts';
import {
  createBundle,
  createStatement,
  dsseBody,
  generateKeyPair,
  hashedrekordBody,
  IN_TOTO_PAYLOAD_TYPE,
  keyIdOf,
  loadSigner,
  PREDICATE_TYPES,
  type SigstoreBundle,
  setPayload,
  signEnvelope,
  type TlogEntryJSON,
  tlogEntry,
  verifyBundle,
} from '../src/trust/index.ts';

const ORIGIN = 'fixity.test/ledger';
// sigstore-js 4.x matches the checkpoint's key name as a literal substring of the log's baseUrl.
const BASE_URL = `https://${ORIGIN}`;
const INTEGRATED_TIME = 1_767_225_600; // 2026-01-01T00:00:00Z

const pairs = { p256: generateKeyPair('p256'), ed25519: generateKeyPair('ed25519'), ledger: generateKeyPair('p256') };
const signers = { p256: loadSigner(pairs.p256.privateKeyPem), ed25519: loadSigner(pairs.ed25519.privateKeyPem) };
const ledger = loadSigner(pairs.ledger.privateKeyPem);
const logId = keyIdOf(ledger.publicKey);
const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const image = digestOf(manifest);

// --- A tiny RFC 6962 log, enough for a few leaves (the ledger room owns the real one). ---------------------
const sha256 = (...parts: Uint8Array[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const leafHash = (body: Uint8Array) => sha256(Buffer.from([0]), body);
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1)); // largest power of two below n
function root(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0]!;
  const k = split(leaves.length);
  return sha256(Buffer.from([1]), root(leaves.slice(0, k)), root(leaves.slice(k)));
}
function path(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...path(m, leaves.slice(0, k)), root(leaves.slice(k))]
    : [...path(m - k, leaves.slice(k)), root(leaves.slice(0, k))];
}

/** Logs `body` at index 2 of a four-entry log and returns its tlog entry with proof, checkpoint and (maybe) SET. */
async function logEntry(body: Uint8Array, options: { set?: boolean; origin?: string } = {}): Promise<TlogEntryJSON> {
  const bodies = [
    Buffer.from('{"event":"a"}'),
    Buffer.from('{"event":"b"}'),
    Buffer.from(body),
    Buffer.from('{"event":"d"}'),
  ];
  const leaves = bodies.map(leafHash);
  const rootHash = root(leaves);
  const origin = options.origin ?? ORIGIN;
  const text = `${origin}\n${leaves.length}\n${rootHash.toString('base64')}\n`;
  const signature = await ledger.sign(Buffer.from(text));
  const hint = Buffer.from(logId, 'hex').subarray(0, 4);
  const checkpoint = `${text}\n\u2014 ${origin} ${Buffer.concat([hint, signature]).toString('base64')}\n`;
  const set =
    options.set === true
      ? await ledger.sign(setPayload({ body, integratedTime: INTEGRATED_TIME, logIndex: 2, logId }))
      : undefined;
  return tlogEntry({
    logIndex: 2,
    logId,
    integratedTime: INTEGRATED_TIME,
    canonicalizedBody: body,
    inclusionProof: { logIndex: 2, rootHash, treeSize: leaves.length, hashes: path(2, leaves), checkpoint },
    ...(set === undefined ? {} : { signedEntryTimestamp: set }),
  });
}

// The ledger adds its own fields to the Rekor body; sigstore-js reads only kind, apiVersion and spec.
const ledgerBody = (rekor: object) =>
  canonicalBytes({ ...rekor, event: 'signature', actor: 'ci', time: '2026-01-01T00:00:00Z', digests: [image] });

async function messageBundle(signer: Signer, log?: { set?: boolean; origin?: string }): Promise<SigstoreBundle> {
  const signature = await signer.sign(manifest);
  const publicKeyPem = signer === signers.p256 ? pairs.p256.publicKeyPem : pairs.ed25519.publicKeyPem;
  const body = ledgerBody(hashedrekordBody({ digestHex: image.slice(7), signature, publicKeyPem }));
  return createBundle({
    keyId: signer.keyId,
    content: { kind: 'message-signature', digest: image, signature },
    tlogEntries: log === undefined ? [] : [await logEntry(body, log)],
  });
}

async function dsseBundle(signer: Signer, log?: { set?: boolean }): Promise<SigstoreBundle> {
  const statement = createStatement({ name: 'fixity.test/app', digest: image }, PREDICATE_TYPES.cosignSign);
  const envelope = await signEnvelope(signer, IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement));
  const publicKeyPem = signer === signers.p256 ? pairs.p256.publicKeyPem : pairs.ed25519.publicKeyPem;
  const body = ledgerBody(dsseBody({ envelope, publicKeyPem }));
  return createBundle({
    keyId: signer.keyId,
    content: { kind: 'dsse', envelope },
    tlogEntries: log === undefined ? [] : [await logEntry(body, log)],
  });
}

// What a user of Fixity publishes for offline verification: the ledger key as a tlog in a trusted_root.json.
const trustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [
    {
      baseUrl: BASE_URL,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: ledger.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start: '2025-01-01T00:00:00Z' },
      },
      logId: { keyId: Buffer.from(logId, 'hex').toString('base64') },
    },
  ],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

interface Options {
  artifact?: Buffer;
  tlogThreshold?: number;
  timestampThreshold?: number;
  /** The key the verifier trusts for each hint it knows (default: the signer keys under their own ids). */
  trusted?: Record<string, Signer>;
}

/** Verifies the bundle's JSON exactly as a stock sigstore-js client would, trusting only public keys. */
function sigstoreVerify(bundle: SigstoreBundle, options: Options = {}) {
  const trusted = options.trusted ?? { [signers.p256.keyId]: signers.p256, [signers.ed25519.keyId]: signers.ed25519 };
  const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), (hint: string) => {
    const signer = trusted[hint];
    if (signer === undefined) throw new Error(`unknown key ${hint}`);
    return { publicKey: signer.publicKey, validFor: () => true };
  });
  const entity = toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(bundle))), options.artifact);
  return new Verifier(material, {
    tlogThreshold: options.tlogThreshold ?? 0,
    ctlogThreshold: 0,
    timestampThreshold: options.timestampThreshold ?? 0,
  }).verify(entity);
}

const failsWith = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

describe('interop with @sigstore/verify (public key only)', () => {
  test('a P-256 message-signature bundle verifies against the manifest bytes', async () => {
    const bundle = await messageBundle(signers.p256);
    const signer = sigstoreVerify(bundle, { artifact: manifest });
    assert.equal(keyIdOf(signer.key), signers.p256.keyId);
    assert.equal(
      verifyBundle(bundle, { artifact: manifest, keys: () => signers.p256.publicKey }).kind,
      'message-signature',
    );
  });

  for (const type of ['p256', 'ed25519'] as const) {
    test(`a DSSE bundle signed with ${type} verifies`, async () => {
      const signer = sigstoreVerify(await dsseBundle(signers[type]));
      assert.equal(keyIdOf(signer.key), signers[type].keyId);
    });
  }

  test('an Ed25519 message signature does not verify in sigstore-js (why P-256 is the default)', async () => {
    const bundle = await messageBundle(signers.ed25519);
    assert.equal(
      verifyBundle(bundle, { artifact: manifest, keys: () => signers.ed25519.publicKey }).kind,
      'message-signature',
    );
    assert.throws(() => sigstoreVerify(bundle, { artifact: manifest }), failsWith('SIGNATURE_ERROR'));
  });

  test('tampered payload, tampered signature, other artifact, wrong key and unknown hint all fail', async () => {
    const dsse = await dsseBundle(signers.p256);
    const envelope = dsse.dsseEnvelope!;
    const payload = Buffer.from(envelope.payload, 'base64').toString().replace('fixity.test/app', 'fixity.test/evil');
    const tamperedPayload = {
      ...dsse,
      dsseEnvelope: { ...envelope, payload: Buffer.from(payload).toString('base64') },
    };
    assert.throws(() => sigstoreVerify(tamperedPayload), failsWith('SIGNATURE_ERROR'));
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    sig[sig.length - 1]! ^= 1;
    const tamperedSig = {
      ...dsse,
      dsseEnvelope: { ...envelope, signatures: [{ ...envelope.signatures[0]!, sig: sig.toString('base64') }] },
    };
    assert.throws(() => sigstoreVerify(tamperedSig), failsWith('SIGNATURE_ERROR'));

    const message = await messageBundle(signers.p256);
    assert.throws(
      () => sigstoreVerify(message, { artifact: Buffer.from('another manifest') }),
      failsWith('SIGNATURE_ERROR'),
    );
    const impostor = loadSigner(generateKeyPair('p256').privateKeyPem);
    assert.throws(
      () => sigstoreVerify(message, { artifact: manifest, trusted: { [signers.p256.keyId]: impostor } }),
      failsWith('SIGNATURE_ERROR'),
    );
    const unknownHint = {
      ...message,
      verificationMaterial: { ...message.verificationMaterial, publicKey: { hint: 'nobody' } },
    };
    assert.throws(() => sigstoreVerify(unknownHint, { artifact: manifest }), /unknown key nobody/);
  });
});

describe('interop with @sigstore/verify: inclusion in a Fixity-shaped log', () => {
  test('a message signature with a hashedrekord entry passes tlogThreshold 1 on the inclusion proof alone', async () => {
    const bundle = await messageBundle(signers.p256, {});
    sigstoreVerify(bundle, { artifact: manifest, tlogThreshold: 1 });
    // An inclusion proof gives no time: sigstore-js counts timestamps only from SETs (and TSAs).
    assert.throws(
      () => sigstoreVerify(bundle, { artifact: manifest, tlogThreshold: 1, timestampThreshold: 1 }),
      failsWith('TIMESTAMP_ERROR'),
    );
  });

  test('with a signed entry timestamp, tlogThreshold 1 and timestampThreshold 1 both pass', async () => {
    sigstoreVerify(await messageBundle(signers.p256, { set: true }), {
      artifact: manifest,
      tlogThreshold: 1,
      timestampThreshold: 1,
    });
    for (const type of ['p256', 'ed25519'] as const) {
      sigstoreVerify(await dsseBundle(signers[type], { set: true }), { tlogThreshold: 1, timestampThreshold: 1 });
    }
  });

  test('a reversed proof, a forged SET, a foreign checkpoint origin or a missing entry fail', async () => {
    const bundle = await messageBundle(signers.p256, { set: true });
    const entry = bundle.verificationMaterial.tlogEntries[0]!;
    const withEntry = (e: TlogEntryJSON) => ({
      ...bundle,
      verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [e] },
    });
    const reversed = withEntry({
      ...entry,
      inclusionProof: { ...entry.inclusionProof!, hashes: [...entry.inclusionProof!.hashes].reverse() },
    });
    assert.throws(
      () => sigstoreVerify(reversed, { artifact: manifest, tlogThreshold: 1 }),
      failsWith('TLOG_INCLUSION_PROOF_ERROR'),
    );
    const forged = withEntry({ ...entry, integratedTime: String(INTEGRATED_TIME + 1) });
    assert.throws(
      () => sigstoreVerify(forged, { artifact: manifest, tlogThreshold: 1 }),
      failsWith('TLOG_INCLUSION_PROMISE_ERROR'),
    );
    const elsewhere = await messageBundle(signers.p256, { origin: 'other.example/log' });
    assert.throws(
      () => sigstoreVerify(elsewhere, { artifact: manifest, tlogThreshold: 1 }),
      failsWith('TLOG_INCLUSION_PROOF_ERROR'),
    );
    const unlogged = await messageBundle(signers.p256);
    assert.throws(() => sigstoreVerify(unlogged, { artifact: manifest, tlogThreshold: 1 }), failsWith('TLOG_ERROR'));
  });

  test('an entry about another signature fails both sigstore-js and Fixity’s verifier', async () => {
    const logged = await messageBundle(signers.p256, { set: true });
    const fresh = await messageBundle(signers.p256); // ECDSA is randomised: same key, another signature
    const swapped = { ...fresh, verificationMaterial: logged.verificationMaterial };
    assert.throws(
      () => sigstoreVerify(swapped, { artifact: manifest, tlogThreshold: 1 }),
      failsWith('TLOG_BODY_ERROR'),
    );
    assert.throws(
      () => verifyBundle(swapped, { artifact: manifest, keys: () => signers.p256.publicKey }),
      /another signature/,
    );
  });
});
