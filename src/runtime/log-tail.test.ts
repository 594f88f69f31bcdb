import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { copyFile, type FileHandle, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readLastLines } from './log-files.ts';
import { type LogFiles, type LogTailOptions, resolveLogRotation, startLogTail } from './log-tail.ts';

const dirs: string[] = [];
const handles: FileHandle[] = [];
after(async () => {
  for (const h of handles) await h.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** An instance directory and a writer appending to `output` O_APPEND, as the spawned process does. */
async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'fixity-log-tail-'));
  dirs.push(dir);
  const files: LogFiles = { output: join(dir, 'output'), log: join(dir, 'log'), offset: join(dir, 'log.offset') };
  const writer = await open(files.output, 'a');
  handles.push(writer);
  const write = (from: number, to: number) =>
    writer.appendFile(
      numbered(from, to)
        .map((l) => `${l}\n`)
        .join(''),
    );
  return { dir, files, write };
}

/** `line 0001`… with an accent, so byte and character counts differ. */
const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line é${String(from + i).padStart(4, '0')}`);

const tailOf = (files: LogFiles, rotation: Omit<LogTailOptions, 'prefix'> = {}) =>
  startLogTail(files, { prefix: () => '> ', ...rotation }).then((tail) => {
    tail.stop(); // the tests flush by hand
    return tail;
  });

/** Every line kept, oldest first, across `log.N`… `log.1` and `log`, without the prefix. */
async function allLines(log: string): Promise<string[]> {
  const names: string[] = [];
  for (let n = 1; await exists(`${log}.${n}`); n++) names.unshift(`${log}.${n}`);
  names.push(log);
  const texts = await Promise.all(names.map((f) => readFile(f, 'utf8').catch(() => '')));
  return texts.flatMap((t) => t.split('\n').filter((l) => l !== '')).map((l) => l.replace(/^> /, ''));
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

test('startLogTail() rotates log before it passes maxBytes and keeps only maxFiles rotated files', async () => {
  const { files, write } = await setup();
  const tail = await tailOf(files, { maxBytes: 120, maxFiles: 2 });
  await write(1, 45);
  await tail.flush();
  // A labelled line is 14 bytes: 8 lines a file, so log holds 41…45, log.1 33…40, log.2 25…32.
  assert.equal(
    await readFile(files.log, 'utf8'),
    numbered(41, 45)
      .map((l) => `> ${l}\n`)
      .join(''),
  );
  assert.deepEqual(await allLines(files.log), numbered(25, 45));
  for (const f of [files.log, `${files.log}.1`, `${files.log}.2`]) assert.ok((await stat(f)).size <= 120, f);
  assert.equal(await exists(`${files.log}.3`), false);
});

test('lastLines() reads on into the rotated files when log holds fewer lines', async () => {
  const { files, write } = await setup();
  const tail = await tailOf(files, { maxBytes: 120, maxFiles: 2 });
  await write(1, 40);
  assert.deepEqual(await tail.lastLines(3), ['> line é0038', '> line é0039', '> line é0040']);
  assert.deepEqual(
    await tail.lastLines(12),
    numbered(29, 40).map((l) => `> ${l}`),
  );
  assert.deepEqual(
    await tail.lastLines(100),
    numbered(17, 40).map((l) => `> ${l}`),
  );
  assert.deepEqual(await tail.lastLines(0), []);
  // What the driver reads for an instance it no longer tails.
  assert.deepEqual(
    await readLastLines(files.log, 12),
    numbered(29, 40).map((l) => `> ${l}`),
  );
});

test('resolveLogRotation() defaults to 16 MiB and 3 rotated files and refuses limits that cannot work', () => {
  assert.deepEqual(resolveLogRotation(), { maxBytes: 16 * 1024 * 1024, maxFiles: 3 });
  assert.deepEqual(resolveLogRotation({ maxFiles: 0 }), { maxBytes: 16 * 1024 * 1024, maxFiles: 0 });
  assert.throws(() => resolveLogRotation({ maxBytes: 0 }), /Cannot rotate logs at 0 bytes/);
  assert.throws(() => resolveLogRotation({ maxFiles: 1.5 }), /Cannot keep 1.5 rotated logs/);
});

test('startLogTail() empties output once read to its end past maxBytes, then tails what comes next', async () => {
  const { files } = await setup();
  // Like the driver: the child's stdout is `output`, opened O_APPEND, and the child keeps it open.
  const fd = openSync(files.output, 'a');
  const child = spawn(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], { stdio: ['pipe', fd, fd] });
  closeSync(fd);
  const say = async (text: string) => {
    const size = (await stat(files.output)).size;
    child.stdin!.write(text);
    while ((await stat(files.output)).size < size + Buffer.byteLength(text)) await sleep(5);
  };
  try {
    const tail = await tailOf(files, { maxBytes: 100 });
    await say(`${numbered(1, 12).join('\n')}\n`);
    await tail.flush();
    assert.equal((await stat(files.output)).size, 0);
    await say(`${numbered(13, 14).join('\n')}\n`);
    // O_APPEND: the child's next lines start at the new end, with no hole where the old bytes were.
    assert.equal(await readFile(files.output, 'utf8'), `${numbered(13, 14).join('\n')}\n`);
    await say('line é0015\nno newline yet');
    await tail.flush();
    assert.equal(await readFile(files.output, 'utf8'), `${numbered(13, 15).join('\n')}\nno newline yet`);
    assert.deepEqual(await allLines(files.log), numbered(1, 15));
    await tail.flush(true);
    assert.deepEqual(await allLines(files.log), [...numbered(1, 15), 'no newline yet']);
  } finally {
    child.kill();
    await once(child, 'exit');
  }
});

test('a new tail on the same files neither repeats nor skips lines', async () => {
  const { files, write } = await setup();
  const first = await tailOf(files, { maxBytes: 150, maxFiles: 10 });
  await write(1, 20);
  await first.flush();
  await write(21, 25);
  const second = await tailOf(files, { maxBytes: 150, maxFiles: 10 });
  await second.flush();
  assert.deepEqual(await allLines(files.log), numbered(1, 25));
});

test('a new tail redoes an append a crash kept from being saved, once', async () => {
  const { dir, files, write } = await setup();
  const first = await tailOf(files);
  await write(1, 5);
  await first.flush();
  await copyFile(files.offset, join(dir, 'saved'));
  await write(6, 9);
  await first.flush();
  await copyFile(join(dir, 'saved'), files.offset); // the append of 6…9 happened, its save did not
  const second = await tailOf(files);
  await second.flush();
  assert.deepEqual(await allLines(files.log), numbered(1, 9));
});

test('a new tail starts output from the beginning when a crash came between emptying it and saving', async () => {
  const { files, write } = await setup();
  const first = await tailOf(files);
  await write(1, 5);
  await first.flush();
  await truncate(files.output, 0); // what the tail does past maxBytes, without the save that follows
  await write(6, 7);
  const second = await tailOf(files);
  await second.flush();
  assert.deepEqual(await allLines(files.log), numbered(1, 7));
});

test('a new tail tells from the emptying mark whether output was emptied, however much was written since', async () => {
  for (const emptied of [true, false]) {
    const { files, write } = await setup();
    const first = await tailOf(files);
    await write(1, 5);
    await first.flush();
    // What the tail saves just before it empties output, then a crash right after the ftruncate (or before it).
    const consumed = await readFile(files.output);
    const state = JSON.parse(await readFile(files.offset, 'utf8')) as { output: number; log: number };
    assert.equal(state.output, consumed.length);
    const sha256 = createHash('sha256').update(consumed).digest('hex');
    await writeFile(files.offset, JSON.stringify({ ...state, emptying: { size: state.output, sha256 } }));
    if (emptied) await truncate(files.output, 0);
    await write(6, 20); // more than was consumed: the size alone cannot tell
    const second = await tailOf(files);
    await second.flush();
    assert.deepEqual(await allLines(files.log), numbered(1, 20), emptied ? 'emptied' : 'not emptied');
    assert.equal('emptying' in JSON.parse(await readFile(files.offset, 'utf8')), false);
  }
});

test('a tail killed at any moment and started again keeps every line exactly once, in order', async () => {
  const { files, write } = await setup();
  const runner = `import { startLogTail } from ${JSON.stringify(new URL('./log-tail.ts', import.meta.url).href)};
const [output, log, offset] = process.argv.slice(1);
process.stdout.write('ready\\n');
const tail = await startLogTail({ output, log, offset }, { prefix: () => '> ', maxBytes: 400, maxFiles: 10000 });
for (;;) await tail.flush();`;
  let written = 0;
  for (let round = 0; round < 12; round++) {
    await write(written + 1, written + 120);
    written += 120;
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', runner, files.output, files.log, files.offset],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await once(child.stdout, 'data');
    await sleep(Math.random() * 60); // a fresh process catches up on 120 lines in about 45 ms
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  const last = await tailOf(files, { maxBytes: 400, maxFiles: 10000 });
  await last.flush();
  assert.deepEqual(await allLines(files.log), numbered(1, written));
});
