// The file watcher (fs-watch-daemon.ts) through its client (fs-watch.ts), in this process: every kind of change
// under a root is seen before the next answer, a change made just before asking included, and what it cannot
// vouch for it says so.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ask, connectFileWatcher, type FileWatcher, unchangedSince, type WatchSync, watchSocket } from './fs-watch.ts';
import { runWatchDaemon } from './fs-watch-daemon.ts';

function synced(answer: WatchSync | { reason: string }): WatchSync {
  assert.ok('token' in answer, `the watcher could not tell: ${'reason' in answer ? answer.reason : ''}`);
  return answer;
}

describe('the file watcher', () => {
  let work: string;
  let dir: string;
  let daemon: Promise<void>;
  let watcher: FileWatcher;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-watch-'));
    dir = join(work, 'run');
    await mkdir(dir, { mode: 0o700 });
    daemon = runWatchDaemon({ dir, socketPath: watchSocket(dir), idleMs: 60_000 });
    watcher = connectFileWatcher({
      dir,
      start: () => assert.fail('the daemon is running: nothing should start another'),
    });
  });
  after(async () => {
    await ask(watchSocket(dir), { op: 'stop' }, 2000);
    await daemon;
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh root with a file and a directory in it. */
  async function tree(name: string): Promise<string> {
    const root = join(work, name);
    await mkdir(join(root, 'lib', 'deep'), { recursive: true });
    await writeFile(join(root, 'a.txt'), 'a');
    await writeFile(join(root, 'lib', 'deep', 'b.txt'), 'b');
    return root;
  }

  /** Asserts that `change` is seen: the root is unchanged before it and changed after it, asked at once. */
  async function seen(root: string, change: () => Promise<unknown>, what: string): Promise<void> {
    const before = synced(await watcher.sync(root));
    assert.ok(unchangedSince(before, synced(await watcher.sync(root))), `${what}: nothing happened yet`);
    await change();
    assert.ok(!unchangedSince(before, synced(await watcher.sync(root))), `${what}: not seen`);
  }

  test('a root nobody touches stays unchanged, answer after answer', async () => {
    const root = await tree('quiet');
    const first = synced(await watcher.sync(root));
    for (let i = 0; i < 5; i++) assert.ok(unchangedSince(first, synced(await watcher.sync(root))));
  });

  test('writes, new files, removals, renames and modes are all seen', async () => {
    const root = await tree('changes');
    await seen(root, () => writeFile(join(root, 'a.txt'), 'a2'), 'a file written');
    await seen(root, () => writeFile(join(root, 'lib', 'deep', 'new.txt'), 'n'), 'a file created deep down');
    await seen(root, () => rm(join(root, 'lib', 'deep', 'b.txt')), 'a file removed');
    await seen(root, () => rename(join(root, 'a.txt'), join(root, 'c.txt')), 'a file renamed');
    await seen(root, () => chmod(join(root, 'c.txt'), 0o755), 'a mode changed');
    await seen(root, () => symlink('c.txt', join(root, 'link')), 'a symlink made');
  });

  test('a directory made after the watch began is watched before the next answer', async () => {
    const root = await tree('fresh-dirs');
    await seen(root, () => mkdir(join(root, 'new', 'inner'), { recursive: true }), 'directories made');
    // Written right after the answer that followed the mkdir: the new directories must be watched by then.
    await seen(root, () => writeFile(join(root, 'new', 'inner', 'x'), 'x'), 'a file in a new directory');
    await seen(root, () => rename(join(root, 'new'), join(root, 'moved')), 'a directory moved');
    await seen(root, () => writeFile(join(root, 'moved', 'inner', 'y'), 'y'), 'a file in a moved directory');
    const outside = await mkdtemp(join(work, 'outside-'));
    await mkdir(join(outside, 'sub'));
    await seen(root, () => rename(join(outside, 'sub'), join(root, 'sub')), 'a directory moved in');
    await seen(root, () => writeFile(join(root, 'sub', 'z'), 'z'), 'a file in a directory moved in');
  });

  test('a change made just before asking is always in the answer (the cookie sync)', async () => {
    const root = await tree('racing');
    for (let i = 0; i < 40; i++) {
      const before = synced(await watcher.sync(root));
      await writeFile(join(root, 'lib', 'deep', 'b.txt'), `b${i}`);
      assert.ok(!unchangedSince(before, synced(await watcher.sync(root))), `round ${i}`);
    }
  });

  test('a root removed and made again at its path is a new watch: nothing is known since', async () => {
    const root = await tree('reborn');
    const first = synced(await watcher.sync(root));
    await rm(root, { recursive: true });
    await tree('reborn');
    const now = synced(await watcher.sync(root));
    assert.notEqual(now.token, first.token);
    assert.ok(!unchangedSince(first, now));
    // The new watch covers the new tree.
    await seen(root, () => writeFile(join(root, 'lib', 'deep', 'b.txt'), 'again'), 'a write in the new tree');
  });

  test('a root on a file system that does not report every change is not vouched for', async () => {
    const answer = await watcher.sync('/proc/sys/fs/inotify');
    assert.ok('reason' in answer);
    assert.match(answer.reason, /not on a local file system/);
  });

  test('a socket directory others can enter is not used', async () => {
    const open = join(work, 'open');
    await mkdir(open, { mode: 0o755 });
    await chmod(open, 0o755);
    const answer = await connectFileWatcher({ dir: open, start: () => assert.fail('must not start') }).sync(work);
    assert.ok('reason' in answer);
    assert.match(answer.reason, /mode 0700/);
  });
});

async function own(dir: string): Promise<string> {
  await mkdir(dir, { mode: 0o700 });
  return dir;
}

describe('the file watcher process', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fixity-watch-life-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('nobody answering: the client starts it once and asks it', async () => {
    const dir = join(work, 'start');
    let starts = 0;
    let daemon: Promise<void> | undefined;
    const watcher = connectFileWatcher({
      dir,
      start: () => {
        starts++;
        daemon = runWatchDaemon({ dir, socketPath: watchSocket(dir), idleMs: 60_000 });
      },
    });
    synced(await watcher.sync(work));
    synced(await watcher.sync(work));
    assert.equal(starts, 1);
    await ask(watchSocket(dir), { op: 'stop' }, 2000);
    await daemon;
  });

  test('half a queue of events in one turn (inotify may have dropped some): every root counts as changed', async () => {
    const dir = join(work, 'burst');
    const daemon = runWatchDaemon({ dir: await own(dir), socketPath: watchSocket(dir), idleMs: 60_000, queueSize: 64 });
    const watcher = connectFileWatcher({ dir, start: () => {} });
    const quiet = join(work, 'burst-quiet');
    const busy = join(work, 'burst-busy');
    await mkdir(quiet);
    await mkdir(busy);
    const before = synced(await watcher.sync(quiet));
    synced(await watcher.sync(busy));
    assert.ok(unchangedSince(before, synced(await watcher.sync(quiet))));
    // Written without yielding, so the daemon (this process) reads their events in one turn.
    for (let i = 0; i < 40; i++) writeFileSync(join(busy, `f${i}`), 'x');
    assert.ok(!unchangedSince(before, synced(await watcher.sync(quiet))), 'the quiet root counts as changed');
    await ask(watchSocket(dir), { op: 'stop' }, 2000);
    await daemon;
  });

  test('a dead daemon’s socket is taken over; idle, the daemon ends and removes its socket', async () => {
    const dir = join(work, 'stale');
    await mkdir(dir, { mode: 0o700 });
    // A file at the socket's path that nobody listens on, as a killed daemon leaves it.
    await writeFile(watchSocket(dir), '');
    const daemon = runWatchDaemon({ dir, socketPath: watchSocket(dir), idleMs: 300 });
    // It may not listen yet when first asked: the client waits for it (a second daemon started meanwhile would
    // find it answering and leave).
    const watcher = connectFileWatcher({ dir, start: () => {} });
    synced(await watcher.sync(work));
    await daemon; // ends by itself once idle
    await assert.rejects(stat(watchSocket(dir)), { code: 'ENOENT' });
  });

  test("its process, stopped by SIGTERM, removes its socket and cookies; a dead one's cookies go at start", async () => {
    const dir = await own(join(work, 'process'));
    await mkdir(join(dir, 'cookies-999999')); // left by a daemon killed with SIGKILL
    const entry = fileURLToPath(new URL('./fs-watch-process.ts', import.meta.url));
    const child = spawn(process.execPath, [entry, dir, '60000'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const watcher = connectFileWatcher({ dir, start: () => {} });
    synced(await watcher.sync(work));
    assert.deepEqual((await readdir(dir)).sort(), [`cookies-${child.pid}`, 'watch-1.sock']);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.deepEqual(await readdir(dir), []);
  });

  test('no daemon and none starts: the client gives up in time and says why', async () => {
    const dir = join(work, 'never');
    const watcher = connectFileWatcher({ dir, start: () => {}, timeoutMs: 300 });
    const started = Date.now();
    const answer = await watcher.sync(work);
    assert.ok('reason' in answer);
    assert.ok(Date.now() - started < 2000);
  });
});
