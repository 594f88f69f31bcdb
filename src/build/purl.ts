export type PurlType = 'npm' | 'composer' | 'pypi';

/**
 * A package URL (github.com/package-url/purl-spec): `pkg:npm/%40scope/name@1.0.0`, `pkg:composer/vendor/name@v1.0.0`,
 * `pkg:pypi/name@1.0`. npm scopes and composer vendors become the namespace; PyPI names are normalized (PEP 503).
 */
export function createPurl(type: PurlType, name: string, version: string): string {
  const segments = name.split('/');
  const normalized = type === 'pypi' ? [name.toLowerCase().replace(/[-_.]+/g, '-')] : segments;
  return `pkg:${type}/${normalized.map(encodeSegment).join('/')}@${encodeSegment(version)}`;
}

// encodeURIComponent leaves !'()* alone; purl wants them encoded so every reader splits the same way.
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
