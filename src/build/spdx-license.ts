// Words that packages put in license fields but that are not SPDX license identifiers.
const NOT_LICENSES = new Set(['unlicensed', 'proprietary', 'unknown', 'none', 'noassertion']);
const ID = /^[A-Za-z0-9][A-Za-z0-9.-]*\+?$/;
const OPERATORS = new Set(['AND', 'OR', 'WITH']);

/**
 * The license of a package manifest as one expression: npm `license` (string or legacy `{ type }`), npm's
 * legacy `licenses` array, or composer's array (alternatives, so joined with OR). Null when there is none.
 */
export function toLicenseExpression(license: unknown, legacyLicenses?: unknown): string | null {
  if (Array.isArray(license)) return joinAlternatives(license);
  const single = licenseName(license);
  if (single !== null) return normalizeLicenseExpression(single) ?? single;
  return Array.isArray(legacyLicenses) ? joinAlternatives(legacyLicenses) : null;
}

/**
 * The expression with operators upper-cased and spacing normalized, or null when it is not a valid SPDX
 * license expression. LicenseRef- ids are refused too: an SBOM would have to carry their text.
 */
export function normalizeLicenseExpression(expression: string): string | null {
  const tokens = expression.match(/\(|\)|[^\s()]+/g);
  if (tokens === null) return null;
  const out: string[] = [];
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const operator = (word: string): boolean => peek()?.toUpperCase() === word;
  const id = (): boolean => {
    const token = peek();
    if (token === undefined || !ID.test(token) || OPERATORS.has(token.toUpperCase())) return false;
    if (NOT_LICENSES.has(token.toLowerCase()) || /^(LicenseRef|DocumentRef)-/i.test(token)) return false;
    out.push(token);
    at++;
    return true;
  };
  const term = (): boolean => {
    if (peek() === '(') {
      out.push('(');
      at++;
      if (!either() || peek() !== ')') return false;
      out.push(')');
      at++;
      return true;
    }
    if (!id()) return false;
    if (!operator('WITH')) return true;
    out.push('WITH');
    at++;
    return id();
  };
  const chain = (word: string, next: () => boolean): boolean => {
    if (!next()) return false;
    while (operator(word)) {
      out.push(word);
      at++;
      if (!next()) return false;
    }
    return true;
  };
  const both = () => chain('AND', term);
  const either = (): boolean => chain('OR', both);
  if (!either() || at !== tokens.length) return null;
  return out.join(' ').replaceAll('( ', '(').replaceAll(' )', ')');
}

function licenseName(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value.trim();
  if (typeof value === 'object' && value !== null && 'type' in value) return licenseName(value.type);
  return null;
}

function joinAlternatives(values: unknown[]): string | null {
  const names = values.map(licenseName).filter((name) => name !== null);
  if (names.length === 0) return null;
  if (names.length === 1) return normalizeLicenseExpression(names[0]!) ?? names[0]!;
  const parts = names.map((name) => normalizeLicenseExpression(name));
  if (parts.some((part) => part === null)) return names.join(' OR ');
  return parts.map((part) => (/\s/.test(part!) && !isWrapped(part!) ? `(${part})` : part)).join(' OR ');
}

/** True when the whole expression sits inside one pair of parentheses. */
function isWrapped(expression: string): boolean {
  if (!expression.startsWith('(')) return false;
  let depth = 0;
  for (let i = 0; i < expression.length; i++) {
    if (expression[i] === '(') depth++;
    else if (expression[i] === ')') depth--;
    if (depth === 0) return i === expression.length - 1;
  }
  return false;
}
