/**
 * A full garbage collection, when the process was started with --expose-gc (bin/fixity.js starts builds so);
 * without it, nothing. What a build lets go in bulk, zlib's output pieces and the text of large scanned files
 * among it, lives outside the JavaScript heap, where V8 lets ~64 MB of it pile up before it collects on its
 * own; a build collects at the edges of its steps, and after every LARGE_GARBAGE bytes of such text, so that
 * one step's garbage is not under the next one's peak. One costs ~20-60 ms.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Bytes of large file content (text decoded outside the heap) after which a build collects. */
export const LARGE_GARBAGE = 32 << 20;
