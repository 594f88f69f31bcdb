import { constants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeError } from './runtime-error.ts';

/** The ids an instance runs as inside its user namespace. */
export interface ImageUser {
  readonly uid: number;
  readonly gid: number;
  /** The user's passwd home, "/" without a passwd entry: runc's HOME when the image sets none. */
  readonly home: string;
}

/** runc's bound (libcontainer/user): ids stay within a signed 32-bit int. */
const MAX_ID = 2 ** 31 - 1;
/** passwd and group files are small; an image's 10 GB one is refused, not read into memory. */
const MAX_FILE = 1024 * 1024;
/** Linux's limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_LINKS = 40;

interface Entry {
  readonly name: string;
  readonly id: number;
  /** A user's primary gid; a group's own id. */
  readonly gid: number;
  /** A user's home directory; "" for a group. */
  readonly home: string;
}

/**
 * The uid and gid for an image config's `User` ("user", "uid", "user:group", "uid:gid", "uid:group",
 * "user:gid"), resolved like runc (which Docker and containerd run) against the image's own /etc/passwd
 * and /etc/group under `root`; null when `User` is empty, so the sandbox keeps its default.
 * Supplementary groups are not resolved: bubblewrap maps a single gid.
 */
export async function resolveImageUser(root: string, user: string): Promise<ImageUser | null> {
  if (user === '') return null;
  const parts = user.split(':');
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw new RuntimeError('IMAGE_INVALID', `Cannot start: the image's User "${user}" is not "user[:group]"`);
  }
  const [name, group] = parts as [string, string | undefined];
  // A numeric part is always an id, never looked up as a name (as runc does).
  const uid = numericId(name, user);
  // A uid takes its passwd entry's primary group and home; without an entry runc keeps its default gid 0
  // and HOME "/" (Docker and containerd behave the same), so this does too rather than inventing gid = uid.
  const entry =
    uid === null ? await find(root, PASSWD, name) : (await readEntries(root, PASSWD))?.find((e) => e.id === uid);
  const home = entry?.home || '/';
  if (group !== undefined) {
    const gid = numericId(group, user);
    return { uid: uid ?? (entry as Entry).id, gid: gid ?? (await find(root, GROUP, group)).id, home };
  }
  return { uid: uid ?? (entry as Entry).id, gid: entry?.gid ?? 0, home };
}

function numericId(part: string, user: string): number | null {
  if (!/^\d+$/.test(part)) return null;
  const id = Number(part);
  if (id > MAX_ID) {
    throw new RuntimeError('IMAGE_INVALID', `Cannot start: ${part} in the image's User "${user}" exceeds ${MAX_ID}`);
  }
  return id;
}

interface Database {
  readonly file: string;
  readonly kind: 'user' | 'group';
  readonly parse: (text: string) => Entry[];
}

/** The first entry named `name` (first match wins, as in runc and glibc); refuses the start without one. */
async function find(root: string, db: Database, name: string): Promise<Entry> {
  const entries = await readEntries(root, db);
  const entry = entries?.find((e) => e.name === name);
  if (entry !== undefined) return entry;
  const state =
    entries === null ? `cannot be looked up: the image has no ${db.file}` : `is not in the image's ${db.file}`;
  throw new RuntimeError(
    'USER_UNKNOWN',
    `Cannot start: ${db.kind} "${name}" ${state} (add it to the image, or give User as a numeric uid:gid)`,
  );
}

/** The entries of an image's passwd or group file; null when the image has none. */
async function readEntries(root: string, db: Database): Promise<Entry[] | null> {
  const text = await readImageFile(root, db.file);
  return text === null ? null : db.parse(text);
}

/** passwd(5) lines "name:password:uid:gid:gecos:home:shell"; malformed ones are skipped. */
function parsePasswd(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const [name, , uid, gid, , home] of records(text, 4)) {
    const id = idField(uid!);
    const primary = idField(gid!);
    if (id !== null && primary !== null) entries.push({ name: name!, id, gid: primary, home: home ?? '' });
  }
  return entries;
}

/** group(5) lines "name:password:gid:members"; malformed ones are skipped. */
function parseGroup(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const [name, , gid] of records(text, 3)) {
    const id = idField(gid!);
    if (id !== null) entries.push({ name: name!, id, gid: id, home: '' });
  }
  return entries;
}

const PASSWD: Database = { file: '/etc/passwd', kind: 'user', parse: parsePasswd };
const GROUP: Database = { file: '/etc/group', kind: 'group', parse: parseGroup };

/**
 * The colon-separated fields of each line with at least `min` fields and a name; blank lines, comments
 * (glibc allows them) and NIS "+"/"-" inclusions (nothing to include from in an image) are skipped.
 */
function records(text: string, min: number): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('+') && !line.startsWith('-'))
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= min && fields[0] !== '');
}

function idField(field: string): number | null {
  if (!/^\d+$/.test(field)) return null;
  const id = Number(field);
  return id <= MAX_ID ? id : null;
}

/**
 * The text of `path` as the image sees it, or null when the image has no such file. Symlinks are followed
 * with `root` as "/" (like Docker's FollowSymlinkInScope), so a link to "/../../host/file" reads the
 * image's own /host/file and never a file of the host.
 */
async function readImageFile(root: string, path: string): Promise<string | null> {
  try {
    const host = await resolveInRoot(root, path);
    return host === null ? null : await readRegularFile(host, path);
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    throw new RuntimeError('START_FAILED', `Cannot read the image's ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function readRegularFile(host: string, path: string): Promise<string> {
  // O_NOFOLLOW: the resolved path ends in no symlink; O_NONBLOCK: a FIFO cannot hang the start.
  const file = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await file.stat();
    if (!st.isFile()) throw new RuntimeError('IMAGE_INVALID', `Cannot start: the image's ${path} is not a file`);
    if (st.size > MAX_FILE) {
      throw new RuntimeError('IMAGE_INVALID', `Cannot start: the image's ${path} exceeds ${MAX_FILE} bytes`);
    }
    return await file.readFile('utf8');
  } finally {
    await file.close();
  }
}

/** The host path `path` names inside `root`, every symlink resolved within it; null when it does not exist. */
async function resolveInRoot(root: string, path: string): Promise<string | null> {
  let pending = path.split('/');
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop(); // ".." at the root stays at the root, as it does for the sandboxed process
      continue;
    }
    const host = join(root, ...resolved, part);
    const st = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
      throw err;
    });
    if (st === null) return null;
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new RuntimeError(
        'UNSAFE_PATH',
        `Cannot start: the image's ${path} goes through more than ${MAX_LINKS} symlinks`,
      );
    }
    const target = await readlink(host);
    if (target.startsWith('/')) resolved = [];
    pending = [...target.split('/'), ...pending];
  }
  return join(root, ...resolved);
}
