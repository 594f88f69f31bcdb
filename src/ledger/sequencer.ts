import type { Clock, Signer } from '../core/index.ts';
import type { EventRecord } from '../store/index.ts';
import { signCheckpoint } from './checkpoint.ts';
import { digestKey } from './digest-key.ts';
import { eventLeaf } from './event-leaf.ts';
import type { LeafHasher } from './leaf-hasher.ts';
import { LedgerError } from './ledger-error.ts';
import type { BatchWrite, LedgerStore } from './ledger-store.ts';
import { leafHash } from './merkle.ts';
import type { StoredTile } from './stored-tile.ts';
import type { TreeState } from './tree-state.ts';

export interface EntryInput {
  body: Uint8Array;
  /** Digests the entry concerns (`sha256:…`); the body must mention each, which is how lookups confirm a hit. */
  digests: readonly string[];
}

export interface AppendedEntry {
  index: number;
  leafHash: Buffer;
}

export interface SequencerDeps {
  store: LedgerStore;
  signer: Signer;
  origin: string;
  clock: Clock;
  durable: () => Promise<void>;
  load: () => Promise<TreeState>;
  readEvents: (after: number, limit: number) => Promise<EventRecord[]>;
  onCommit: (tiles: readonly StoredTile[], checkpoint: BatchWrite['checkpoint']) => void;
  maxEntries: number;
  maxDelayMs: number;
  /** A leaf hasher on another thread, made on first use. */
  hasher?: () => LeafHasher;
}

type Waiter<T> = { resolve: (value: T) => void; reject: (err: unknown) => void };
type Prepared = { write: BatchWrite; appended: AppendedEntry[]; events: number };
type Outcome = { ok: true } | { ok: false; conflict: boolean };
type Item =
  | ({ kind: 'entries'; entries: readonly EntryInput[]; hashed: ReturnType<LeafHasher['hash']> | null } & Waiter<
      AppendedEntry[]
    >)
  | ({ kind: 'feed' } & Waiter<number>);

const CONFLICT_RETRIES = 20;
const HASH_ON_WORKER = 64; // below this a round trip to the worker costs more than the hashing

/**
 * The one writer. Appends queue up; a batch goes when it reaches `maxEntries` or `maxDelayMs` after its first
 * entry, and whatever arrives while a batch commits goes in the next one (group commit). Each batch writes its
 * leaves, tiles, digest keys and a signed checkpoint in one transaction; its callers are answered once that
 * transaction is durable, while the next batch is already being built.
 */
export function createSequencer(deps: SequencerDeps) {
  const queue: Item[] = [];
  let queued = 0;
  let state: TreeState | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  const settling = new Set<Promise<void>>();
  let closed = false;

  const schedule = (): void => {
    if (running !== null || timer !== null || queue.length === 0) return;
    if (queued >= deps.maxEntries || deps.maxDelayMs <= 0) {
      running = run();
      return;
    }
    timer = setTimeout(() => {
      timer = null;
      running ??= run();
    }, deps.maxDelayMs);
  };

  // A pipeline of two: the next batch is built (hashed, signed) while the previous one commits, on the
  // assumption that the commit succeeds. If it does not, the state is reloaded and both batches go back to
  // the front of the queue (a conflict) or the failed one's callers hear why.
  async function run(): Promise<void> {
    let inflight: { batch: Item[]; outcome: Promise<Outcome> } | null = null;
    try {
      for (;;) {
        // While a batch commits, build the next as soon as a full one is waiting.
        if (inflight !== null && queued < deps.maxEntries) await Promise.race([inflight.outcome, fullBatch()]);
        const batch = queue.length > 0 ? take() : null;
        let prepared: Prepared | null = null;
        let error: { cause: unknown } | null = null;
        if (batch !== null) {
          try {
            state ??= await deps.load();
            prepared = await prepare(state, batch);
          } catch (err) {
            state = null; // the builder may hold hashes that will never commit
            error = { cause: err };
          }
        }
        if (inflight !== null) {
          const { batch: previous, outcome } = inflight;
          inflight = null;
          const result = await outcome;
          if (!result.ok) {
            state = null;
            if (batch !== null) requeue(batch);
            if (result.conflict) await redoExclusively(previous);
            continue;
          }
        }
        if (batch === null) break;
        if (error !== null) fail(batch, error.cause);
        else if (prepared === null) settle(batch, [], 0);
        else inflight = { batch, outcome: commit(batch, prepared) };
      }
    } finally {
      running = null;
      schedule();
    }
  }

  // Whole requests in arrival order, up to maxEntries (a larger single request goes alone).
  function take(): Item[] {
    let count = 0;
    let n = 0;
    for (; n < queue.length; n++) {
      const item = queue[n]!;
      const size = item.kind === 'entries' ? item.entries.length : 0;
      if (n > 0 && count + size > deps.maxEntries) break;
      count += size;
    }
    queued -= count;
    return queue.splice(0, n);
  }

  let full: { promise: Promise<void>; resolve: () => void } | null = null;
  const fullBatch = (): Promise<void> => {
    if (full === null) {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      full = { promise, resolve };
    }
    return full.promise;
  };

  function requeue(batch: Item[]): void {
    queue.unshift(...batch);
    for (const item of batch) if (item.kind === 'entries') queued += item.entries.length;
  }

  // Another sequencer committed first. Again from what it wrote, this time holding the ledger lock from the
  // reload to the commit (PostgreSQL), so the batch cannot lose twice; on SQLite (another process) retry.
  async function redoExclusively(batch: Item[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let done: { prepared: Prepared | null; ok: boolean };
      try {
        done = await deps.store.exclusive(async (commitLocked) => {
          state = await deps.load();
          const prepared = await prepare(state, batch);
          return { prepared, ok: prepared === null || (await commitLocked(prepared.write)) };
        });
      } catch (err) {
        state = null;
        return fail(batch, err);
      }
      if (done.prepared === null) return settle(batch, [], 0);
      if (done.ok) return committed(batch, done.prepared);
      state = null;
      if (attempt >= CONFLICT_RETRIES) {
        const err = new LedgerError('STATE_INVALID', 'Cannot append to the ledger: another writer keeps moving it');
        return fail(batch, err);
      }
    }
  }

  async function commit(batch: Item[], prepared: Prepared): Promise<Outcome> {
    try {
      if (!(await deps.store.commit(prepared.write))) return { ok: false, conflict: true };
    } catch (err) {
      fail(batch, err);
      return { ok: false, conflict: false };
    }
    committed(batch, prepared);
    return { ok: true };
  }

  // Callers hear back once the commit is on stable storage; the next batch does not wait for that.
  function committed(batch: Item[], prepared: Prepared): void {
    deps.onCommit(prepared.write.tiles, prepared.write.checkpoint);
    const done = deps.durable().then(
      () => settle(batch, prepared.appended, prepared.events),
      (err: unknown) => fail(batch, err),
    );
    settling.add(done);
    void done.finally(() => settling.delete(done));
  }

  async function prepare(s: TreeState, batch: Item[]): Promise<Prepared | null> {
    const entries: EntryInput[] = [];
    const given: Array<Buffer | null> = [];
    for (const item of batch) {
      if (item.kind !== 'entries') continue;
      const hashed = item.hashed === null ? null : await item.hashed.catch(() => null);
      for (const [i, e] of item.entries.entries()) {
        const body = hashed?.entries[i];
        entries.push(body === null || body === undefined ? e : { body, digests: e.digests });
        given.push(hashed?.hashes[i] ?? null);
      }
    }
    let eventSeq = s.eventSeq;
    let events = 0;
    if (batch.some((i) => i.kind === 'feed')) {
      for (const e of await deps.readEvents(eventSeq, Math.max(deps.maxEntries - entries.length, 256))) {
        entries.push(eventLeaf(e));
        eventSeq = e.seq;
        events++;
      }
    }
    if (entries.length === 0) return null;
    const base = s.size;
    const appended: AppendedEntry[] = new Array(entries.length);
    const leaves: Uint8Array[] = new Array(entries.length);
    const digestKeys: number[] = [];
    const digestIdxs: number[] = [];
    const onNode = s.edges.add;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const index = base + i;
      const hash = given[i] ?? leafHash(e.body);
      s.builder.push(hash, onNode);
      appended[i] = { index, leafHash: hash };
      leaves[i] = e.body;
      // One row per distinct key: the same digest twice (a tag moved to where it was) is one lookup.
      const keys =
        e.digests.length === 1
          ? [digestKey(e.digests[0]!, index)]
          : [...new Set(e.digests.map((d) => digestKey(d, index)))];
      for (const key of keys) {
        digestKeys.push(key);
        digestIdxs.push(index);
      }
    }
    const size = s.builder.size;
    const root = s.builder.root();
    const note = await signCheckpoint({ size, root }, deps.signer, deps.origin);
    const checkpoint = { size, previous: base, root, note, created_at: deps.clock.now().toISOString() };
    const write: BatchWrite = {
      base,
      size,
      eventSeq,
      leaves,
      digestKeys,
      digestIdxs,
      tiles: s.edges.takeDirty(),
      checkpoint,
    };
    s.size = size;
    s.eventSeq = eventSeq;
    return { write, appended, events };
  }

  function settle(batch: Item[], appended: AppendedEntry[], events: number): void {
    let at = 0;
    for (const item of batch) {
      if (item.kind === 'feed') item.resolve(events);
      else {
        item.resolve(appended.slice(at, at + item.entries.length));
        at += item.entries.length;
      }
    }
  }

  function fail(batch: Item[], err: unknown): void {
    for (const item of batch) item.reject(err);
  }

  const enqueue = <T>(make: (w: Waiter<T>) => Item): Promise<T> => {
    if (closed) return Promise.reject(new LedgerError('CLOSED', 'Cannot append to the ledger: it is closed'));
    return new Promise<T>((resolve, reject) => {
      const item = make({ resolve, reject } as Waiter<T>);
      queue.push(item);
      if (item.kind === 'entries') queued += item.entries.length;
      if (full !== null && queued >= deps.maxEntries) {
        full.resolve();
        full = null;
      }
      schedule();
    });
  };

  return {
    /** Sequences entries; resolves with their indices once they are durable under a signed checkpoint. */
    append(entries: readonly EntryInput[]): Promise<AppendedEntry[]> {
      try {
        for (const e of entries) checkEntry(e);
      } catch (err) {
        return Promise.reject(err);
      }
      if (entries.length === 0) return Promise.resolve([]);
      // A large append's leaves are hashed on the worker while it waits in the queue.
      const hashed =
        deps.hasher !== undefined && entries.length >= HASH_ON_WORKER
          ? deps.hasher().hash(entries.map((e) => e.body))
          : null;
      hashed?.catch(() => undefined); // a failed worker means hashing here instead
      return enqueue<AppendedEntry[]>((w) => ({ kind: 'entries', entries, hashed, ...w }));
    },
    /** Sequences the next registry events after the cursor; resolves with how many were appended. */
    feed(): Promise<number> {
      return enqueue<number>((w) => ({ kind: 'feed', ...w }));
    },
    /** Stops taking appends; resolves once everything queued is committed and durable. */
    async close(): Promise<void> {
      closed = true;
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
        running ??= run();
      }
      while (running !== null) await running;
      await Promise.allSettled([...settling]);
    },
  };
}

const MAX_ENTRY_BYTES = 0xffff; // an entry bundle (C2SP tlog-tiles) prefixes each entry with a uint16 length

function checkEntry(e: EntryInput): void {
  if (!(e.body instanceof Uint8Array)) throw new LedgerError('ENTRY_INVALID', 'Cannot append entry: body is not bytes');
  if (e.body.length > MAX_ENTRY_BYTES) {
    throw new LedgerError('ENTRY_TOO_LARGE', `Cannot append entry: ${e.body.length} bytes exceeds ${MAX_ENTRY_BYTES}`);
  }
  if (!Array.isArray(e.digests)) throw new LedgerError('ENTRY_INVALID', 'Cannot append entry: digests is not a list');
  const body = Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength);
  for (const d of e.digests) {
    if (typeof d !== 'string' || d === '' || !body.includes(d)) {
      throw new LedgerError(
        'ENTRY_INVALID',
        `Cannot append entry: its body does not mention the digest "${String(d)}"`,
      );
    }
  }
}
