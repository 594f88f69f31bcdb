import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { globToRegExp } from '../core/index.ts';
import { EvidenceError } from './evidence-error.ts';
import { ANY_ANCHOR, ASSIGNMENT_RULE, isPlaceholder, PATTERN_RULES, shannonEntropy } from './secret-rules.ts';
import { createYielder } from './source-file.ts';

export { SECRET_RULES } from './secret-rules.ts';

/** Where a likely secret is. Never carries the secret itself, nor any part of it. */
export interface SecretFinding {
  path: string;
  line: number;
  rule: string;
  description: string;
}

/** Suppresses findings it matches: every field given must match; an entry with no field matches nothing. */
export interface SecretAllow {
  /** Glob over the image path (a leading `/` is optional): `*` within a segment, `**` across. */
  path?: string | undefined;
  rule?: string | undefined;
  line?: number | undefined;
}

export interface SecretScanOptions {
  allow?: readonly SecretAllow[] | undefined;
  /** Larger files are not scanned; default 5 MiB. */
  maxFileBytes?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Contents already found clean by these rules (see scan-memo.ts): files it knows are not read again. */
  clean?: CleanContents | undefined;
}

/** Port: keys (see `cleanKey`) of file contents in which the rules found nothing. */
export interface CleanContents {
  has(key: string): boolean;
  add(key: string): void;
}

/** A file to scan; with its content digest, a clean result can be remembered and reused. */
export interface ScannedFile {
  path: string;
  /** Its host path (a getter can make it only when the file is read or flagged). */
  source: string;
  size: number;
  digest?: `sha256:${string}` | null | undefined;
}

const BINARY_PROBE = 8 * 1024;
const MAX_ASSIGNMENT_LINE = 4096;
// .env, app.env, .env.production, .npmrc, *.properties, config.json / config.yml …
const ASSIGNMENT_FILE = /^(?:\.env(?:\..+)?|.+\.env|\.npmrc|.+\.properties|config\..+)$/;
const SECRET_KEY = /secret|token|passw(?:or)?d|api[-_]?key|private|(?:^|[^a-z])_auth$/;

/**
 * Scans packaged text files for likely secrets (private keys, cloud and SaaS tokens, high-entropy values
 * assigned to secret-like keys in config files). Binary files and files over `maxFileBytes` are skipped.
 * Findings come sorted by path, line and rule, minus those the allowlist matches.
 */
export async function scanForSecrets(
  files: readonly ScannedFile[],
  options: SecretScanOptions = {},
): Promise<SecretFinding[]> {
  return createSecretScanner(options).finish(files);
}

/** A scan that can take content already in memory, so a file read to hash it is not read again to scan it. */
export interface SecretScanner<F extends ScannedFile = ScannedFile> {
  /** Scans `bytes`, the content `file.digest` names (e.g. just hashed); it is not kept. */
  scanContent(file: F, bytes: Uint8Array): void;
  /**
   * Scans, reading them, the `files` not scanned through `scanContent` nor known clean; returns all findings.
   * Files are taken one at a time, so a caller can make each (its host path) as it is asked for.
   */
  finish(files: Iterable<F>): Promise<SecretFinding[]>;
}

/**
 * Creates a scanner; see `scanForSecrets` for what it finds. `onClean` sees each file whose content, as its
 * digest names it, is clean: found so now, or known (`clean`, or an identical content this scan).
 */
export function createSecretScanner<F extends ScannedFile = ScannedFile>(
  options: SecretScanOptions & { onClean?: (file: F) => void } = {},
): SecretScanner<F> {
  const maxFileBytes = options.maxFileBytes ?? 5 * 1024 * 1024;
  const allowed = compileAllowlist(options.allow ?? []);
  const pause = createYielder(options.signal);
  const findings: SecretFinding[] = [];
  const cleanNow = new Set<string>(); // also spares identical copies of one content a second scan
  const flagged = new Set<string>();
  const id = (file: ScannedFile) => `${file.path}\n${file.source}`;
  const knownClean = (key: string | null) => key !== null && (cleanNow.has(key) || options.clean?.has(key) === true);
  const inspect = (file: F, bytes: Uint8Array, key: string | null, digestChecked: boolean) => {
    if (bytes.byteLength > maxFileBytes) return;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const found =
      text.subarray(0, BINARY_PROBE).includes(0) || !worthDecoding(file.path, text)
        ? []
        : scanText(file.path, text.toString('utf8'));
    if (found.length > 0) flagged.add(id(file));
    // Remembered only for the bytes the digest names: a file that changed since it was hashed is not.
    else if (key !== null && (digestChecked || `sha256:${hash('sha256', bytes)}` === file.digest)) {
      cleanNow.add(key);
      options.clean?.add(key);
      options.onClean?.(file);
    }
    for (const finding of found) if (!allowed(finding)) findings.push(finding);
  };
  return {
    scanContent(file, bytes) {
      const key = file.digest ? cleanKey(file.path, file.digest) : null;
      if (file.size > maxFileBytes) return;
      if (knownClean(key)) options.onClean?.(file);
      else inspect(file, bytes, key, true);
    },
    async finish(files) {
      for (const file of files) {
        await pause();
        const key = file.digest ? cleanKey(file.path, file.digest) : null;
        if (file.size > maxFileBytes) continue;
        if (knownClean(key)) {
          options.onClean?.(file);
          continue;
        }
        if (flagged.has(id(file))) continue;
        // Read synchronously for the reason given in source-file.ts.
        let bytes: Buffer;
        try {
          bytes = readFileSync(file.source);
        } catch (err) {
          const reason = (err as NodeJS.ErrnoException).code ?? 'read failed';
          throw new EvidenceError('FILE_UNREADABLE', `Cannot scan ${file.path} for secrets: ${reason}`, {
            cause: err,
            detail: { path: file.path },
          });
        }
        inspect(file, bytes, key, false);
      }
      return findings.sort((a, b) => compare(a.path, b.path) || a.line - b.line || compare(a.rule, b.rule));
    },
  };
}

/** What a clean result depends on besides the rules: the content, and whether the assignment rule applies. */
export function cleanKey(path: string, digest: `sha256:${string}`): string {
  return ASSIGNMENT_FILE.test(posix.basename(path)) ? `${digest}+assignment` : digest;
}

/** One line per finding: `path:line  rule  description`. */
export function formatFindings(findings: readonly SecretFinding[]): string {
  return findings.map((f) => `${f.path}:${f.line}  ${f.rule}  ${f.description}`).join('\n');
}

interface Hit {
  line: number;
  rule: string;
  description: string;
  start: number;
  end: number;
}

/**
 * Whether `text` may hold a finding: an anchor of some rule, or an env-style file. The anchors are ASCII
 * (secret-rules.ts) and no byte of a multi-byte UTF-8 character is, so the text read as Latin-1 holds an anchor
 * exactly when it does read as UTF-8; Latin-1 is cheaper to make and to search (one byte per character), and
 * most files have no anchor (a 270 MB node_modules: ~0.15 s of UTF-8 decoding saved).
 */
function worthDecoding(path: string, text: Buffer): boolean {
  return ASSIGNMENT_FILE.test(posix.basename(path)) || ANY_ANCHOR.test(text.toString('latin1'));
}

// Rules run most specific first; a hit overlapping an earlier one is the same secret seen by a broader rule.
// Findings are before the allowlist, so that a clean result does not depend on it.
function scanText(path: string, text: string): SecretFinding[] {
  const hits: Hit[] = [];
  const offer = (hit: Hit) => {
    if (!hits.some((h) => hit.start < h.end && h.start < hit.end)) hits.push(hit);
  };
  const lineAt = lineLocator(text);
  for (const rule of ANY_ANCHOR.test(text) ? PATTERN_RULES : []) {
    for (const match of text.matchAll(rule.pattern)) {
      const secret = match.slice(1).find((group) => group !== undefined) ?? match[0];
      if (isPlaceholder(secret) || (rule.minEntropy !== undefined && shannonEntropy(secret) < rule.minEntropy))
        continue;
      const { id, description } = rule;
      offer({
        line: lineAt(match.index),
        rule: id,
        description,
        start: match.index,
        end: match.index + match[0].length,
      });
    }
  }
  if (ASSIGNMENT_FILE.test(posix.basename(path))) {
    let start = 0;
    text.split('\n').forEach((line, index) => {
      if (isSecretAssignment(line.replace(/\r$/, ''))) {
        const { id, description } = ASSIGNMENT_RULE;
        offer({ line: index + 1, rule: id, description, start, end: start + line.length + 1 });
      }
      start += line.length + 1;
    });
  }
  const findings = new Map<string, SecretFinding>();
  for (const { line, rule, description } of hits) findings.set(`${line}\0${rule}`, { path, line, rule, description });
  return [...findings.values()];
}

// KEY=value, KEY: value, "key": "value", 'key' => 'value', export KEY=value, //registry/:_authToken=value
function isSecretAssignment(line: string): boolean {
  if (line.length > MAX_ASSIGNMENT_LINE) return false;
  const match = /^\s*(?:export\s+)?["']?([^=:"'\s][^=\s]*?)["']?\s*(?:=>?|:(?=\s|["']))\s*(.*)$/.exec(line);
  if (match === null || !SECRET_KEY.test(match[1]!.toLowerCase())) return false;
  const { value, quoted } = unquote(match[2]!);
  if (value.length < 16 || isPlaceholder(value) || shannonEntropy(value) < 3.5) return false;
  // Code (a call, `process.env.X`) and URLs without credentials or file paths name where a secret is, not the secret.
  if (!quoted && (/[\s()]/.test(value) || /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[[^\]]*\])+$/.test(value)))
    return false;
  return (
    !/^[a-z][a-z0-9+.-]*:\/\/[^\s:@/]+(?::\d+)?(?:[/?#]\S*)?$/i.test(value) && !/^(?:~|\.{0,2})\/[\w./-]*$/.test(value)
  );
}

function unquote(raw: string): { value: string; quoted: boolean } {
  const value = raw.trim().replace(/[,;]$/, '').trim();
  const quote = value[0];
  if (quote === '"' || quote === "'" || quote === '`') {
    const end = value.indexOf(quote, 1);
    return { value: end === -1 ? value.slice(1) : value.slice(1, end), quoted: true };
  }
  return { value: value.replace(/\s+#.*$/, '').trim(), quoted: false };
}

/** Maps a character offset to its 1-based line number; lines are found on first use, most texts need none. */
function lineLocator(text: string): (offset: number) => number {
  let starts: number[] | null = null;
  return (offset) => {
    if (starts === null) {
      starts = [];
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i);
    }
    let low = 0;
    let high = starts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (starts[mid]! < offset) low = mid + 1;
      else high = mid;
    }
    return low + 1;
  };
}

function compileAllowlist(allow: readonly SecretAllow[]): (finding: SecretFinding) => boolean {
  const entries = allow
    .filter((entry) => entry.path !== undefined || entry.rule !== undefined || entry.line !== undefined)
    .map((entry) => ({
      ...entry,
      glob: entry.path === undefined ? null : globToRegExp(entry.path.replace(/^\/+/, '')),
    }));
  return (finding) =>
    entries.some(
      (entry) =>
        (entry.glob === null || entry.glob.test(finding.path.replace(/^\/+/, ''))) &&
        (entry.rule === undefined || entry.rule === finding.rule) &&
        (entry.line === undefined || entry.line === finding.line),
    );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
