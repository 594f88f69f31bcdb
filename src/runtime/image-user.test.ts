import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isErrorWithCode } from '../core/index.ts';
import { resolveImageUser } from './image-user.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const PASSWD = `root:x:0:0:root:/root:/bin/sh
app:x:1000:1001:App:/home/app:/bin/sh
`;
const GROUP = `root:x:0:
app:x:1001:
web:x:3000:app
`;

/** A root directory holding `files` (paths relative to it). */
async function rootWith(files: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'fixity-image-user-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

const refusedWith = (code: string, message: RegExp) => (err: unknown) =>
  isErrorWithCode(err, code) && message.test((err as Error).message);

describe('resolveImageUser', () => {
  test('resolveImageUser() resolves every OCI User form against the image files', async () => {
    const root = await rootWith({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
    const app = '/home/app';
    const cases: Array<[string, { uid: number; gid: number; home: string } | null]> = [
      ['', null],
      ['app', { uid: 1000, gid: 1001, home: app }],
      ['1000', { uid: 1000, gid: 1001, home: app }],
      ['app:web', { uid: 1000, gid: 3000, home: app }],
      ['1000:web', { uid: 1000, gid: 3000, home: app }],
      ['app:2000', { uid: 1000, gid: 2000, home: app }],
      ['1000:2000', { uid: 1000, gid: 2000, home: app }],
      ['root', { uid: 0, gid: 0, home: '/root' }],
    ];
    for (const [user, expected] of cases) assert.deepEqual(await resolveImageUser(root, user), expected, user);
  });

  test('resolveImageUser() gives a uid without a passwd entry gid 0 and home /, as runc does', async () => {
    const root = await rootWith({ 'etc/passwd': PASSWD });
    assert.deepEqual(await resolveImageUser(root, '4242'), { uid: 4242, gid: 0, home: '/' });
    assert.deepEqual(await resolveImageUser(root, '4242:4242'), { uid: 4242, gid: 4242, home: '/' });
    assert.deepEqual(await resolveImageUser(await rootWith(), '0'), { uid: 0, gid: 0, home: '/' });
    const homeless = await rootWith({ 'etc/passwd': 'nobody:x:65534:65534:nobody::/bin/false\n' });
    assert.deepEqual(await resolveImageUser(homeless, 'nobody'), { uid: 65534, gid: 65534, home: '/' });
  });

  test('resolveImageUser() refuses a user or group that is not in the image', async () => {
    const root = await rootWith({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
    await assert.rejects(
      resolveImageUser(root, 'ghost'),
      refusedWith('USER_UNKNOWN', /^Cannot start: user "ghost" is not in the image's \/etc\/passwd \(add it/),
    );
    await assert.rejects(
      resolveImageUser(root, 'app:staff'),
      refusedWith('USER_UNKNOWN', /^Cannot start: group "staff" is not in the image's \/etc\/group/),
    );
    await assert.rejects(resolveImageUser(root, 'ghost:2000'), refusedWith('USER_UNKNOWN', /user "ghost"/));
  });

  test('resolveImageUser() needs no /etc for numeric users and refuses names without it', async () => {
    const root = await rootWith();
    assert.deepEqual(await resolveImageUser(root, '1000:1000'), { uid: 1000, gid: 1000, home: '/' });
    assert.deepEqual(await resolveImageUser(root, '1000'), { uid: 1000, gid: 0, home: '/' });
    await assert.rejects(
      resolveImageUser(root, 'app'),
      refusedWith('USER_UNKNOWN', /user "app" cannot be looked up: the image has no \/etc\/passwd/),
    );
    const noGroup = await rootWith({ 'etc/passwd': PASSWD });
    await assert.rejects(
      resolveImageUser(noGroup, 'app:web'),
      refusedWith('USER_UNKNOWN', /group "web" cannot be looked up: the image has no \/etc\/group/),
    );
  });

  test('resolveImageUser() skips comments, blank and malformed lines, and takes the first match', async () => {
    const passwd = [
      '# users',
      '#hidden:x:5:5:::',
      '',
      '   ',
      'short:x:1',
      'letters:x:abc:1:::',
      'negative:x:-1:1:::',
      'huge:x:99999999999:1:::',
      ':x:5:5:::',
      '+nis::::::',
      '  spaced:x:7:8:::  \r',
      'app:x:1000:1001:::',
      'app:x:2000:2001:::',
    ].join('\n');
    const group = ['# groups', 'bad:x:', 'nogid:x:zz:', 'web:x:3000:', 'web:x:4000:'].join('\n');
    const root = await rootWith({ 'etc/passwd': passwd, 'etc/group': group });
    assert.deepEqual(await resolveImageUser(root, 'app:web'), { uid: 1000, gid: 3000, home: '/' });
    assert.deepEqual(await resolveImageUser(root, 'spaced'), { uid: 7, gid: 8, home: '/' });
    for (const user of ['short', 'letters', 'negative', 'huge', '+nis', 'hidden', 'app:bad', 'app:nogid']) {
      await assert.rejects(resolveImageUser(root, user), (e) => isErrorWithCode(e, 'USER_UNKNOWN'), user);
    }
  });

  test('resolveImageUser() refuses a User that is not "user[:group]" or an id out of range', async () => {
    const root = await rootWith({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
    for (const user of ['app:web:x', ':web', 'app:', '2147483648', '0:2147483648']) {
      await assert.rejects(resolveImageUser(root, user), (e) => isErrorWithCode(e, 'IMAGE_INVALID'), user);
    }
    assert.deepEqual(await resolveImageUser(root, '2147483647'), { uid: 2147483647, gid: 0, home: '/' });
  });

  test('resolveImageUser() follows a symlinked /etc/passwd inside the root, never out of it', async () => {
    const host = await rootWith({ 'host/file': 'app:x:0:0:::\n' });
    for (const target of ['/../../host/file', `../../${basename(host)}/host/file`, join(host, 'host/file')]) {
      const root = await rootWith({ 'etc/group': GROUP });
      await symlink(target, join(root, 'etc/passwd'));
      await assert.rejects(
        resolveImageUser(root, 'app'),
        refusedWith('USER_UNKNOWN', /the image has no \/etc\/passwd/),
        target,
      );
    }
    // The same link reads the image's own file where the link lands with the root as "/".
    const root = await rootWith({ 'host/file': PASSWD });
    await mkdir(join(root, 'etc'));
    await symlink('/../../host/file', join(root, 'etc/passwd'));
    assert.deepEqual(await resolveImageUser(root, 'app'), { uid: 1000, gid: 1001, home: '/home/app' });
  });

  test('resolveImageUser() follows a symlinked /etc directory and refuses a symlink loop', async () => {
    const root = await rootWith({ 'usr/etc/passwd': PASSWD });
    await symlink('usr/etc', join(root, 'etc'));
    assert.deepEqual(await resolveImageUser(root, 'app'), { uid: 1000, gid: 1001, home: '/home/app' });
    const loop = await rootWith();
    await mkdir(join(loop, 'etc'));
    await symlink('group', join(loop, 'etc/passwd'));
    await symlink('/etc/passwd', join(loop, 'etc/group'));
    await assert.rejects(resolveImageUser(loop, 'app'), refusedWith('UNSAFE_PATH', /more than 40 symlinks/));
  });

  test('resolveImageUser() refuses an /etc/passwd that is a directory or a FIFO without blocking', async () => {
    const dir = await rootWith();
    await mkdir(join(dir, 'etc/passwd'), { recursive: true });
    await assert.rejects(resolveImageUser(dir, 'app'), refusedWith('IMAGE_INVALID', /\/etc\/passwd is not a file/));
    const fifo = await rootWith();
    await mkdir(join(fifo, 'etc'));
    execFileSync('mkfifo', [join(fifo, 'etc/passwd')]);
    await assert.rejects(resolveImageUser(fifo, 'app'), refusedWith('IMAGE_INVALID', /\/etc\/passwd is not a file/));
  });
});
