import { hash } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

// Leaf hashes on a second thread, so a full verify hashes leaves and nodes at once: recomputing a tree is
// half leaf hashes, and the tree above them needs one thread anyway. This file is also the worker's entry.

const ROLE = 'fixity-leaf-hasher';

/** SHA-256(0x00 || entry) of many entries, off the calling thread. */
export interface LeafHasher {
  /**
   * The leaf hashes, and the entries as the worker hashed them (copies, so what is stored later is what was
   * hashed even if the caller reuses its buffers).
   */
  hash(
    entries: ReadonlyArray<Uint8Array | null>,
  ): Promise<{ hashes: Array<Buffer | null>; entries: Array<Buffer | null> }>;
  close(): Promise<void>;
}

type Request = { id: number; bytes: Uint8Array; lengths: Int32Array };
type Reply = { id: number; hashes: Uint8Array; bytes: Uint8Array };

/** Starts one worker thread; `close()` stops it. */
export function createLeafHasher(): LeafHasher {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
  const waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (err: unknown) => void }>();
  let next = 0;
  let failure: unknown = null;
  worker.on('message', (m: Reply) => {
    waiting.get(m.id)?.resolve(m);
    waiting.delete(m.id);
    if (waiting.size === 0) worker.unref();
  });
  const stop = (err: unknown) => {
    failure ??= err;
    for (const w of waiting.values()) w.reject(failure);
    waiting.clear();
  };
  worker.on('error', stop);
  worker.on('exit', () => stop(new Error('Cannot hash leaves: the hasher thread exited')));
  // An idle hasher must not keep the process alive, a busy one must (unref after the listeners: adding one
  // refs the worker again).
  worker.unref();
  return {
    async hash(entries) {
      if (failure !== null) throw failure;
      // One transferable buffer each way; a missing entry travels as length -1.
      const lengths = new Int32Array(entries.map((e) => (e === null ? -1 : e.length)));
      // Its own ArrayBuffer: a small Buffer may be a slice of Node's shared pool, which must not be transferred.
      const bytes = new Uint8Array(lengths.reduce((sum, n) => sum + Math.max(n, 0), 0));
      for (let i = 0, at = 0; i < entries.length; i++) {
        const e = entries[i];
        if (e === null || e === undefined) continue;
        bytes.set(e, at);
        at += e.length;
      }
      const id = next++;
      const reply = await new Promise<Reply>((resolve, reject) => {
        if (waiting.size === 0) worker.ref();
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, bytes, lengths } satisfies Request, [bytes.buffer, lengths.buffer]);
      });
      const hashes = Buffer.from(reply.hashes.buffer, reply.hashes.byteOffset, reply.hashes.byteLength);
      const back = Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength);
      let at = 0;
      const copies = entries.map((e) => {
        if (e === null) return null;
        at += e.length;
        return back.subarray(at - e.length, at);
      });
      return {
        hashes: entries.map((e, i) => (e === null ? null : hashes.subarray(i * 32, i * 32 + 32))),
        entries: copies,
      };
    },
    async close() {
      await worker.terminate();
    },
  };
}

function serve(): void {
  let scratch = Buffer.alloc(0x10000 + 1);
  parentPort!.on('message', ({ id, bytes, lengths }: Request) => {
    const out = Buffer.alloc(lengths.length * 32);
    for (let i = 0, at = 0; i < lengths.length; i++) {
      const n = lengths[i]!;
      if (n < 0) continue;
      if (n + 1 > scratch.length) scratch = Buffer.alloc(n + 1);
      scratch.set(bytes.subarray(at, at + n), 1);
      hash('sha256', scratch.subarray(0, n + 1), 'buffer').copy(out, i * 32);
      at += n;
    }
    parentPort!.postMessage({ id, hashes: out, bytes } satisfies Reply, [
      out.buffer as ArrayBuffer,
      bytes.buffer as ArrayBuffer,
    ]);
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) serve();
