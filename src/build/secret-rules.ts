/** A pattern that finds one kind of secret; `pattern` is global and its first defined group is the secret. */
export interface PatternRule {
  id: string;
  description: string;
  pattern: RegExp;
  /**
   * A cheap pattern every match of `pattern` contains (tested without regard to case): text where no rule's
   * anchor occurs, which is most text, is not run through the rules at all.
   */
  anchor: RegExp;
  /** Also require this many bits of Shannon entropy per character of the secret. */
  minEntropy?: number;
}

// PEM armor, then optional RFC 1421 headers (Proc-Type, DEK-Info, Version), then base64 body. Literal "\n"
// escapes count as line breaks so keys inside JSON and source strings are found; a bare header constant is not.
const PEM_BODY = String.raw`(?:\s|\\[rn])*(?:[A-Za-z-]+:[^\r\n\\]*(?:\r?\n|\\r\\n|\\n))*(?:\s|\\[rn])*([A-Za-z0-9+/]{40,})`;

/** Rules run on every text file, most specific first: where two overlap, the earlier one reports the secret. */
export const PATTERN_RULES: readonly PatternRule[] = [
  {
    id: 'private-key-json',
    description: 'Private key in a JSON credentials file (e.g. a cloud service account key)',
    anchor: /-----BEGIN /,
    pattern: new RegExp(String.raw`"private_key"\s*:\s*"-----BEGIN [A-Z ]*PRIVATE KEY-----${PEM_BODY}`, 'g'),
  },
  {
    id: 'private-key',
    description: 'PEM private key (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted or PGP)',
    anchor: /-----BEGIN /,
    pattern: new RegExp(
      `-----BEGIN (?:(?:RSA|EC|OPENSSH|DSA|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----${PEM_BODY}`,
      'g',
    ),
  },
  {
    id: 'aws-access-key-id',
    description: 'AWS access key id',
    anchor: /AKIA|ASIA/,
    pattern: /\b((?:AKIA|ASIA)[A-Z0-9]{16})\b/g,
  },
  {
    id: 'aws-secret-access-key',
    description: 'AWS secret access key assigned to a variable or setting',
    anchor: /secret/,
    pattern:
      /(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
    minEntropy: 3.5,
  },
  {
    id: 'github-token',
    description: 'GitHub token (personal, OAuth, user-to-server, server-to-server, refresh or fine-grained)',
    anchor: /gh[pousr]_|github_pat_/,
    pattern: /\b(?:gh[pousr]_([A-Za-z0-9]{36,255})|github_pat_([A-Za-z0-9_]{22,255}))\b/g,
  },
  {
    id: 'gitlab-token',
    description: 'GitLab personal access token',
    anchor: /glpat-/,
    pattern: /\bglpat-([A-Za-z0-9_-]{20,})/g,
  },
  {
    id: 'slack-token',
    description: 'Slack API token (bot, app, user, refresh or session)',
    anchor: /xox[baprs]-/,
    pattern: /\bxox[baprs]-((?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{10,})/g,
  },
  {
    id: 'slack-webhook',
    description: 'Slack incoming webhook URL',
    anchor: /hooks\.slack\.com/,
    pattern: /https:\/\/hooks\.slack\.com\/services\/(T[A-Z0-9]{6,}\/B[A-Z0-9]{6,}\/[A-Za-z0-9]{20,})/g,
  },
  {
    id: 'stripe-secret-key',
    description: 'Stripe live secret or restricted key',
    anchor: /k_live_/,
    pattern: /\b[rs]k_live_([A-Za-z0-9]{20,})/g,
  },
  {
    id: 'google-api-key',
    description: 'Google API key',
    anchor: /AIza/,
    pattern: /\bAIza([0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])/g,
  },
  {
    id: 'npm-token',
    description: 'npm access token',
    anchor: /npm_/,
    pattern: /\bnpm_([A-Za-z0-9]{36})(?![A-Za-z0-9])/g,
  },
];

/** Matches wherever any rule's anchor occurs, regardless of case. */
export const ANY_ANCHOR = new RegExp(PATTERN_RULES.map((rule) => rule.anchor.source).join('|'), 'i');

export const ASSIGNMENT_RULE = {
  id: 'secret-assignment',
  description: 'High-entropy value assigned to a secret-like key in an env, .npmrc, properties or config file',
} as const;

/** Every rule id with what it finds, for docs and allowlist help. */
export const SECRET_RULES: ReadonlyArray<{ id: string; description: string }> = [
  ...PATTERN_RULES.map(({ id, description }) => ({ id, description })),
  { id: ASSIGNMENT_RULE.id, description: ASSIGNMENT_RULE.description },
];

/** Shannon entropy of `value` in bits per character. */
export function shannonEntropy(value: string): number {
  const counts = new Map<string, number>();
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1);
  const length = [...value].length;
  let bits = 0;
  for (const n of counts.values()) bits -= (n / length) * Math.log2(n / length);
  return bits;
}

const PLACEHOLDER =
  /changeme|change[-_]?me|replace[-_]?me|placeholder|example|dummy|redacted|x{4}|\$\{[^}]*\}|^\$[A-Za-z_{(]|\{\{.*\}\}|<[^>]*>|^your[-_]/i;

/** True for values that stand in for a secret: `changeme`, `${VAR}`, `<token>`, `xxxx`, one repeated character … */
export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value) || /^(.)\1*$/s.test(value);
}
