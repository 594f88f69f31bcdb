import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalBytes } from '../core/index.ts';
import type { PackageRecord } from './lockfiles.ts';
import { createSBOMStatement, toDSSEEnvelope } from './provenance.ts';
import { createSPDXDocument, planSPDXDocument, type SBOMInput } from './sbom.ts';
import { writeSBOMEnvelope } from './sbom-envelope.ts';

const sha = (algorithm: string, text: string) => createHash(algorithm).update(text).digest('hex');
const subject = { name: 'demo', digest: `sha256:${sha('sha256', 'manifest')}` };

// Deterministic pseudo-random paths that reach every escaping and ordering case: quotes, backslashes,
// controls, non-ASCII, astral characters, code units at and above U+E000, names that collide as SPDX ids.
function inputWith(count: number, seed: number): SBOMInput {
  const alphabet = [
    'a',
    'Z',
    '0',
    '-',
    '.',
    '_',
    ' ',
    '"',
    '\\',
    '\n',
    '\u0001',
    'é',
    '日',
    '😀',
    '\uE000',
    '\uFFFD',
    '/',
  ];
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 1;
    return state;
  };
  const paths = new Set<string>();
  while (paths.size < count) {
    let name = '';
    for (let n = 1 + (next() % 12); n > 0; n--) name += alphabet[next() % alphabet.length];
    paths.add(`/app/${name}`);
  }
  const packages: PackageRecord[] = [0, 1, 2].map((i) => ({
    ecosystem: 'npm',
    name: `pkg-"${i}"-é`,
    version: `1.${i}.0`,
    license: i === 1 ? null : 'MIT',
    purl: `pkg:npm/pkg-${i}@1.${i}.0`,
    resolved: `https://registry.npmjs.org/pkg-${i}/-/pkg-${i}-1.${i}.0.tgz`,
    integrity: null,
    dev: i === 2,
    lockfile: '/app/package-lock.json',
  }));
  return {
    name: 'demo',
    version: '1.0.0',
    imageDigest: subject.digest,
    created: '2024-05-01T12:00:00Z',
    toolVersion: 'test',
    files: [...paths].map((path) => ({
      path,
      digest: `sha256:${sha('sha256', path)}` as const,
      sha1: sha('sha1', path),
      size: path.length,
    })),
    packages,
  };
}

function streamed(input: SBOMInput): { bytes: Buffer; digest: string; size: number } {
  const chunks: Buffer[] = [];
  const result = writeSBOMEnvelope(planSPDXDocument(input), subject, (chunk) => chunks.push(chunk));
  return { bytes: Buffer.concat(chunks), ...result };
}

describe('writeSBOMEnvelope()', () => {
  for (const [count, seed] of [
    [0, 1],
    [1, 2],
    [2, 3],
    [50, 4],
    [3000, 5],
  ] as const) {
    test(`writeSBOMEnvelope() writes the bytes of the canonical DSSE envelope when there are ${count} files`, () => {
      const input = inputWith(count, seed);
      const expected = Buffer.from(
        canonicalBytes(toDSSEEnvelope(createSBOMStatement(subject, createSPDXDocument(input)))),
      );
      const got = streamed(input);
      assert.equal(got.size, expected.byteLength);
      assert.equal(got.digest, `sha256:${createHash('sha256').update(expected).digest('hex')}`);
      assert.ok(got.bytes.equals(expected), 'byte for byte');
    });
  }
});
