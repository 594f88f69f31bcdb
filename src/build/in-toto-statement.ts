import { canonicalBytes, parseDigest } from '../core/index.ts';
import { EvidenceError } from './evidence-error.ts';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** in-toto DigestSet: lowercase algorithm → lowercase hex (`sha256`, `sha512`, `gitCommit` …). */
export type DigestSet = Record<string, string>;

/** in-toto ResourceDescriptor (attestation spec v1); at least one of uri, digest or content is set. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: DigestSet;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

export interface InTotoStatement<Predicate = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: Array<{ name: string; digest: DigestSet }>;
  predicateType: string;
  predicate: Predicate;
}

/** What a statement is about: a name and an OCI digest such as `sha256:<hex>`. */
export interface StatementSubject {
  name: string;
  digest: string;
}

/** A DSSE v1 envelope; `signatures` stays empty until the trust room signs it. */
export interface DSSEEnvelope {
  payloadType: string;
  payload: string;
  signatures: Array<{ keyid?: string; sig: string }>;
}

/** `sha256:<hex>` → `{ sha256: '<hex>' }`; throws EvidenceError naming `what` when it is not a digest. */
export function toDigestSet(digest: string, what: string): DigestSet {
  try {
    const { algorithm, hex } = parseDigest(digest);
    return { [algorithm]: hex };
  } catch (err) {
    throw new EvidenceError('EVIDENCE_INPUT_INVALID', `Cannot use ${what}: "${digest}" is not a valid digest`, {
      cause: err,
    });
  }
}

/** An in-toto Statement v1 about one or more subjects. */
export function createStatement<Predicate>(
  subjects: StatementSubject | readonly StatementSubject[],
  predicateType: string,
  predicate: Predicate,
): InTotoStatement<Predicate> {
  const list = Array.isArray(subjects) ? subjects : [subjects as StatementSubject];
  if (list.length === 0) throw new EvidenceError('EVIDENCE_INPUT_INVALID', 'Cannot create statement: no subject');
  const subject = list.map((s) => ({ name: s.name, digest: toDigestSet(s.digest, `the digest of subject ${s.name}`) }));
  return { _type: STATEMENT_TYPE, subject, predicateType, predicate };
}

/** An unsigned DSSE envelope whose payload is the statement's canonical JSON (RFC 8785), base64. */
export function toDSSEEnvelope(statement: object, payloadType: string = IN_TOTO_PAYLOAD_TYPE): DSSEEnvelope {
  const bytes = canonicalBytes(statement);
  // A view, not a copy: for a 100k-file SBOM the payload is tens of megabytes.
  const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return { payloadType, payload, signatures: [] };
}
