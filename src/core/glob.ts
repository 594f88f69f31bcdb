/**
 * Compiles a repository/tag pattern: `*` matches within one path segment, `**` across segments, `?` one
 * character. Everything else is literal. Used by token scopes and immutability rules alike.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `a/**` also matches `a` itself, as gitignore does
      if (pattern[i + 2] === undefined && re.endsWith('\\/')) re = `${re.slice(0, -2)}(?:\\/.*)?`;
      else re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
