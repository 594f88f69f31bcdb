import { globToRegExp } from '../core/index.ts';
import type { TagProtection } from '../store/index.ts';

/** Harbor-style rule: tags matching `tags` in repositories matching `repositories` never move once set. */
export interface ImmutabilityRule {
  repositories: string;
  tags: string;
}

// Tags that clients maintain as pointers to evidence (the referrers tag schema and cosign's legacy
// `.sig/.att/.sbom` tags) must keep moving as signatures are added, so rules never freeze them.
const DERIVED_TAG = /^(?:sha256|sha512)-[a-f0-9]{64,128}(?:\.(?:sig|att|sbom))?$/;

/** Parses `repos` or `repos:tags` (e.g. `prod/**`, `releases/*:v*`). */
export function parseImmutabilityRule(text: string): ImmutabilityRule {
  const colon = text.indexOf(':');
  const rule =
    colon < 0 ? { repositories: text, tags: '*' } : { repositories: text.slice(0, colon), tags: text.slice(colon + 1) };
  if (rule.repositories === '' || rule.tags === '')
    throw new RangeError(`Cannot parse immutability rule "${text}": use REPOS or REPOS:TAGS`);
  return rule;
}

export function createTagProtection(rules: readonly ImmutabilityRule[]): TagProtection {
  const compiled = rules.map((r) => ({ repos: globToRegExp(r.repositories), tags: globToRegExp(r.tags) }));
  return (repo, tag) => !DERIVED_TAG.test(tag) && compiled.some((r) => r.repos.test(repo) && r.tags.test(tag));
}
