import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Digest, digestOf } from '../core/index.ts';
import {
  assertSubject,
  createStatement,
  IN_TOTO_PAYLOAD_TYPE,
  PREDICATE_TYPES,
  parseStatement,
  STATEMENT_TYPE,
  statementNames,
} from './statement.ts';
import { TrustError } from './trust-error.ts';

const image = digestOf('an image manifest');
const hex = image.slice('sha256:'.length);
const hasCode = (code: string) => (e: unknown) => e instanceof TrustError && e.code === code;

describe('in-toto Statement v1', () => {
  test('createStatement() names each subject by a lowercase DigestSet and keeps the predicate', () => {
    const s = createStatement({ name: 'registry.example.com/app', digest: image }, PREDICATE_TYPES.slsaProvenance, {
      buildDefinition: { buildType: 'x' },
    });
    assert.deepEqual(s, {
      _type: STATEMENT_TYPE,
      subject: [{ name: 'registry.example.com/app', digest: { sha256: hex } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'x' } },
    });
    assert.equal(IN_TOTO_PAYLOAD_TYPE, 'application/vnd.in-toto+json');
  });

  test('parseStatement() round-trips bytes and matches subjects by digest only, never by name', () => {
    const s = parseStatement(
      Buffer.from(JSON.stringify(createStatement({ name: 'a', digest: image }, PREDICATE_TYPES.vsa))),
    );
    assert.ok(statementNames(s, image));
    assert.ok(!statementNames(s, digestOf('another manifest')));
    assert.ok(!statementNames(s, `sha512:${'a'.repeat(128)}` as Digest));
    assert.doesNotThrow(() => assertSubject(s, image));
    assert.throws(() => assertSubject(s, digestOf('x')), hasCode('SUBJECT_MISMATCH'));
  });

  test('parseStatement() keeps non-hash digests (gitCommit) and unknown subject annotations', () => {
    const s = parseStatement(
      JSON.stringify({
        _type: STATEMENT_TYPE,
        subject: [{ digest: { gitCommit: 'abc123', sha256: hex }, annotations: { k: 1 } }],
        predicateType: PREDICATE_TYPES.testResult,
      }),
    );
    assert.equal(s.subject[0]?.digest.gitCommit, 'abc123');
    assert.equal(s.predicate, undefined);
  });

  test('parseStatement() refuses what is not a Statement v1 with STATEMENT_INVALID', () => {
    const good = { _type: STATEMENT_TYPE, subject: [{ digest: { sha256: hex } }], predicateType: 'p', predicate: {} };
    const bad: unknown[] = [
      { ...good, _type: 'https://in-toto.io/Statement/v0.1' },
      { ...good, subject: [] },
      { ...good, subject: [{ name: 'no digest' }] },
      { ...good, subject: [{ digest: {} }] },
      { ...good, subject: [{ digest: { sha256: hex.toUpperCase() } }] },
      { ...good, subject: [{ digest: { sha256: hex.slice(2) } }] },
      { ...good, predicateType: '' },
      { ...good, predicate: 'text' },
    ];
    for (const value of bad) assert.throws(() => parseStatement(JSON.stringify(value)), hasCode('STATEMENT_INVALID'));
    assert.throws(() => parseStatement(Buffer.from([0xff, 0xfe])), hasCode('STATEMENT_INVALID'));
    assert.throws(() => createStatement({ name: 'a', digest: image }, 'p', [1, 2]), hasCode('STATEMENT_INVALID'));
  });
});
