/**
 * Group commit: calls that arrive while a batch is being committed wait and go together in the next
 * batch, so N concurrent writers pay for about one fsync instead of N. When a batch fails, its items are
 * retried one by one so a single bad item cannot fail its neighbours.
 */
export function createGroupCommit<T>(
  commit: (items: readonly T[]) => Promise<void>,
  options: { maxBatch?: number } = {},
) {
  const { maxBatch = 256 } = options;
  const queue: Array<{ item: T; resolve: () => void; reject: (err: unknown) => void }> = [];
  let draining = false;

  async function drain(): Promise<void> {
    draining = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        try {
          await commit(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          for (const b of batch) await commit([b.item]).then(b.resolve, b.reject);
        }
      }
    } finally {
      draining = false;
    }
  }

  return (item: T): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!draining) void drain();
    });
}

/**
 * Coalesces fsyncs of one directory: a caller is answered by a sync that started after it asked, and
 * callers who ask while one runs share the next.
 */
export function createCoalescedSync(sync: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const start = (): Promise<void> => {
    const p = sync().finally(() => {
      if (running === p) running = null;
    });
    running = p;
    return p;
  };
  return () => {
    if (running === null) return start();
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = null;
        return start();
      });
    return next;
  };
}
