import { z } from 'zod';
import { type Digest, parseDigest } from '../core/index.ts';
import { TrustError } from './trust-error.ts';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** The DSSE payloadType of an in-toto Statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** Predicate types Fixity writes or reads. SPDX: cosign writes the unversioned URI; accept both. */
export const PREDICATE_TYPES = {
  slsaProvenance: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdx23: 'https://spdx.dev/Document/v2.3',
  cyclonedx: 'https://cyclonedx.org/bom',
  vsa: 'https://slsa.dev/verification_summary/v1',
  cosignSign: 'https://sigstore.dev/cosign/sign/v1',
  cosignVuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  testResult: 'https://in-toto.io/attestation/test-result/v0.1',
} as const;

// Lengths of the hex digests in-toto names; other DigestSet keys (gitCommit, dirHash, …) are free-form.
const HEX_LENGTHS: Record<string, number> = { sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

const DigestSetSchema = z
  .record(z.string().regex(/^[a-zA-Z0-9_-]+$/, 'digest algorithm names are alphanumeric'), z.string().min(1))
  .refine((set) => Object.keys(set).length > 0, 'a subject needs at least one digest')
  .refine(
    (set) =>
      Object.entries(set).every(([alg, value]) => {
        const length = HEX_LENGTHS[alg];
        return length === undefined || (value.length === length && /^[0-9a-f]+$/.test(value));
      }),
    'hash digests must be lowercase hex of the right length',
  );

const StatementSchema = z.object({
  _type: z.literal(STATEMENT_TYPE),
  subject: z
    .array(
      z.object({
        name: z.string().optional(),
        digest: DigestSetSchema,
        annotations: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .min(1),
  predicateType: z.string().min(1),
  predicate: z.record(z.string(), z.unknown()).optional(),
});

/** An in-toto Statement v1, checked: subjects carry digests, hex digests are lowercase. */
export type Statement = z.infer<typeof StatementSchema>;

/** What a statement is about: a name (informational) and the digest it is matched by. */
export interface StatementSubject {
  name: string;
  digest: Digest;
}

/** Builds a Statement v1 about one or more OCI digests; the predicate must be a JSON object. */
export function createStatement(
  subjects: StatementSubject | readonly StatementSubject[],
  predicateType: string,
  predicate: unknown = {},
): Statement {
  const list = Array.isArray(subjects) ? subjects : [subjects as StatementSubject];
  return parseStatementValue({
    _type: STATEMENT_TYPE,
    subject: list.map((s) => {
      const { algorithm, hex } = parseDigest(s.digest);
      return { name: s.name, digest: { [algorithm]: hex } };
    }),
    predicateType,
    predicate,
  });
}

/** Parses statement bytes (the verified DSSE payload) or an already-decoded value; throws STATEMENT_INVALID. */
export function parseStatement(input: Uint8Array | string): Statement {
  let value: unknown;
  try {
    value = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
  } catch (err) {
    throw new TrustError('STATEMENT_INVALID', 'Cannot parse the in-toto statement: it is not JSON', { cause: err });
  }
  return parseStatementValue(value);
}

function parseStatementValue(value: unknown): Statement {
  const parsed = StatementSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TrustError(
      'STATEMENT_INVALID',
      `Cannot parse the in-toto statement: ${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** True when some subject names `digest` (subjects are matched by digest only, never by name). */
export function statementNames(statement: Statement, digest: Digest): boolean {
  const { algorithm, hex } = parseDigest(digest);
  return statement.subject.some((s) => s.digest[algorithm] === hex);
}

/** Throws SUBJECT_MISMATCH unless the statement is about `digest`. */
export function assertSubject(statement: Statement, digest: Digest): void {
  if (!statementNames(statement, digest)) {
    throw new TrustError('SUBJECT_MISMATCH', `Cannot accept the statement: none of its subjects is ${digest}`);
  }
}
