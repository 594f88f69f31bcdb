import { open, readFile, rename } from 'node:fs/promises';
import { RuntimeError } from './runtime-error.ts';

/** Which instances each provisioning key (by nonce) has created, kept on disk across restarts. */
export interface ProvisioningBook {
  /** Records `instance` under `nonce`; throws KEY_REPLAYED or KEY_QUOTA_EXCEEDED instead when not allowed. */
  record(nonce: string, instance: string, quota: number): Promise<void>;
}

/** Opens the book stored in `file` (created on first write; written atomically: temp, fsync, rename). */
export function openProvisioningBook(file: string): ProvisioningBook {
  let nonces: Record<string, string[]> | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  const load = async (): Promise<Record<string, string[]>> => {
    if (nonces !== null) return nonces;
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { nonces?: Record<string, string[]> };
      nonces = parsed.nonces ?? {};
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      nonces = {};
    }
    return nonces;
  };
  const save = async (data: Record<string, string[]>): Promise<void> => {
    const tmp = `${file}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify({ nonces: data }, null, 1)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  };
  return {
    record(nonce, instance, quota) {
      // Serialised so two concurrent starts cannot both take the last slot of a quota.
      const step = queue.then(async () => {
        const book = await load();
        const used = book[nonce] ?? [];
        if (used.includes(instance)) {
          throw new RuntimeError('KEY_REPLAYED', `Cannot provision ${instance}: its key was already used for it`);
        }
        if (used.length >= quota) {
          throw new RuntimeError(
            'KEY_QUOTA_EXCEEDED',
            `Cannot provision ${instance}: the key's quota of ${quota} instance(s) is used up`,
          );
        }
        book[nonce] = [...used, instance];
        await save(book);
      });
      queue = step.catch(() => {});
      return step;
    },
  };
}
