import { EvidenceError } from './evidence-error.ts';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 time as `YYYY-MM-DDThh:mm:ssZ` (UTC, whole seconds), the form SPDX requires and SLSA uses;
 * throws EvidenceError naming `field` when it is not one.
 */
export function toUTCSeconds(value: string, field: string): string {
  const ms = RFC3339.test(value) ? Date.parse(value.replace(' ', 'T')) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new EvidenceError('EVIDENCE_INPUT_INVALID', `Cannot use ${field}: "${value}" is not an RFC 3339 time`);
  }
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
