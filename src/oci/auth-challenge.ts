/** A parsed `WWW-Authenticate` challenge (RFC 7235): scheme plus its quoted parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenge(header: string | null): Challenge | null {
  if (header === null) return null;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (m === null) return null;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g))
    params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}
