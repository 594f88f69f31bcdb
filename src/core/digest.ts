import { createHash, type Hash } from 'node:crypto';
import { BaseError } from './errors.ts';

export const DIGEST_ALGORITHMS = ['sha256', 'sha512'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

/** An OCI digest string such as `sha256:<64 hex>`, checked by `assertDigest`. */
export type Digest = `${DigestAlgorithm}:${string}`;

export type DigestErrorCode = 'DIGEST_INVALID' | 'DIGEST_UNSUPPORTED' | 'DIGEST_MISMATCH' | 'SIZE_MISMATCH';
export class DigestError extends BaseError<DigestErrorCode> {}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// image-spec descriptor.md: algorithm-component ([a-z0-9]+ joined by [+._-]) ":" encoded ([a-zA-Z0-9=_-]+)
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Splits a digest into algorithm and hex; throws DigestError unless it is a registered, well-formed digest. */
export function parseDigest(value: string): { algorithm: DigestAlgorithm; hex: string } {
  if (!GRAMMAR.test(value))
    throw new DigestError('DIGEST_INVALID', `Cannot parse digest: "${clip(value)}" is not algorithm:encoded`);
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!isAlgorithm(algorithm)) {
    throw new DigestError(
      'DIGEST_UNSUPPORTED',
      `Cannot use digest algorithm "${clip(algorithm)}": only sha256 and sha512 are supported`,
    );
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new DigestError(
      'DIGEST_INVALID',
      `Cannot parse digest: ${algorithm} needs ${HEX_LENGTH[algorithm]} lowercase hex characters`,
    );
  }
  return { algorithm, hex };
}

export function assertDigest(value: unknown): asserts value is Digest {
  if (typeof value !== 'string') throw new DigestError('DIGEST_INVALID', 'Cannot parse digest: not a string');
  parseDigest(value);
}

export function isDigest(value: unknown): value is Digest {
  try {
    assertDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function isAlgorithm(value: string): value is DigestAlgorithm {
  return (DIGEST_ALGORITHMS as readonly string[]).includes(value);
}

/** Digest of bytes held in memory. */
export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** An incremental digester that can report its digest and byte count at any time without ending. */
export interface Digester {
  readonly algorithm: DigestAlgorithm;
  readonly size: number;
  update(chunk: Uint8Array): void;
  /** Digest of everything so far; the digester can keep going. */
  peek(): Digest;
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256', from?: Hash): Digester {
  const hash = from ?? createHash(algorithm);
  let size = 0;
  return {
    algorithm,
    get size() {
      return size;
    },
    update(chunk) {
      hash.update(chunk);
      size += chunk.byteLength;
    },
    peek: () => `${algorithm}:${hash.copy().digest('hex')}`,
  };
}

/**
 * Passes chunks through while hashing them, and throws DigestError at the end when the content does not
 * hash to `expected` (or exceed/miss `size`). Consumers must not trust the bytes until iteration finishes.
 */
export async function* verifyDigest(
  source: AsyncIterable<Uint8Array>,
  expected: Digest,
  options: { size?: number } = {},
): AsyncGenerator<Uint8Array> {
  const { algorithm } = parseDigest(expected);
  const digester = createDigester(algorithm);
  for await (const chunk of source) {
    digester.update(chunk);
    if (options.size !== undefined && digester.size > options.size) {
      throw new DigestError('SIZE_MISMATCH', `Cannot accept content for ${expected}: more than ${options.size} bytes`);
    }
    yield chunk;
  }
  if (options.size !== undefined && digester.size !== options.size) {
    throw new DigestError(
      'SIZE_MISMATCH',
      `Cannot accept content for ${expected}: ${digester.size} bytes, expected ${options.size}`,
    );
  }
  const actual = digester.peek();
  if (actual !== expected) {
    throw new DigestError('DIGEST_MISMATCH', `Cannot accept content: it hashes to ${actual}, not ${expected}`);
  }
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
