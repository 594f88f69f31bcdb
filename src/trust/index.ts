// The trust room's public face: keys, DSSE, in-toto statements, cosign formats, Sigstore bundles and their
// Rekor-shaped tlog entries, verification, signing images, and the server's trust store.
export type { BundleContent, SigstoreBundle } from './bundle.ts';
export { BUNDLE_MEDIA_TYPE, createBundle, parseBundle } from './bundle.ts';
export type { AttestationLayerInput, LegacyImage, LegacyLayer, SignatureLayerInput } from './cosign.ts';
export {
  DSSE_ENVELOPE_MEDIA_TYPE,
  legacyAttestationImage,
  legacySignatureImage,
  REKOR_BUNDLE_ANNOTATION,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  signatureTag,
  simpleSigningPayload,
  TLOG_ENTRY_ANNOTATION,
} from './cosign.ts';
export type { Envelope } from './dsse.ts';
export { pae, parseEnvelope, signEnvelope, verifyEnvelope } from './dsse.ts';
export type { KeyPair, KeyType } from './keys.ts';
export {
  algorithmOf,
  generateKeyPair,
  keyIdOf,
  loadPublicKey,
  loadSigner,
  verifySignature,
  writeKeyFiles,
} from './keys.ts';
export type { LegacySignature, LegacySignatureRef } from './legacy-signatures.ts';
export { parseLegacySignatureManifest, readLegacySignatures } from './legacy-signatures.ts';
export type { LedgerProof } from './logged-entry.ts';
export { loggedTlogEntry } from './logged-entry.ts';
export type { BundleReferrer, SubjectDescriptor } from './referrer.ts';
export { BUNDLE_ANNOTATIONS, bundleReferrer, referrerManifest } from './referrer.ts';
export type { DSSEBody, HashedRekordBody, RekorKind } from './rekor.ts';
export { dsseBody, hashedrekordBody, setPayload } from './rekor.ts';
export type { RecordedSignature, RecordSignatures, SignatureSubmission, SignImageResult } from './sign-image.ts';
export { attestImage, createAttestationBundle, evidenceAttestor, pushBundle, signImage } from './sign-image.ts';
export type { Statement, StatementSubject } from './statement.ts';
export {
  assertSubject,
  createStatement,
  IN_TOTO_PAYLOAD_TYPE,
  PREDICATE_TYPES,
  parseStatement,
  STATEMENT_TYPE,
  statementNames,
} from './statement.ts';
export type { DecodedTlogEntry, InclusionProofInput, TlogEntryJSON } from './tlog-entry.ts';
export { decodeTlogEntry, parseTlogEntry, tlogEntry } from './tlog-entry.ts';
export type { TrustErrorCode } from './trust-error.ts';
export { TrustError } from './trust-error.ts';
export type { KeyRecord, KeyRole, KeyValidity, TrustStore } from './trust-store.ts';
export { createTrustStore, KEY_ROLES } from './trust-store.ts';
export type { VerifiedBundle } from './verify-bundle.ts';
export { verifyBundle } from './verify-bundle.ts';
export type { ImageVerification, TlogCheck, TrustedKey, VerificationStep, VerifiedItem } from './verify-image.ts';
export { verifyImage } from './verify-image.ts';
